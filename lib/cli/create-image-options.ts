import { Command, Option } from 'commander';
import { TIMESTAMP_MAX_SKEW_SECONDS } from '../core/naming';
import { commanderErrorOutput, refuseRepeatedFlags } from './flags';

/** The flags of create_image, as parsed (nothing resolved or checked yet beyond syntax). */
export interface CreateImageOptions {
  /** One or more images; several are built in one run, from one bootstrap where they can share it. */
  name: string[];
  distribution: string;
  /** --arch, repeatable: the architectures each image is built for (default amd64). */
  arch?: string[];
  aptRepo?: string;
  aptRepoKey?: string;
  /** false with --no-bundle. */
  bundle?: boolean;
  releaseTrack?: string;
  releaseLabel?: string;
  flavour?: string;
  organization?: string;
  dockerRegistry?: string;
  rosdistroPath?: string;
  recipesPath?: string;
  timestamp?: string;
  buildOnly?: boolean;
  localStorage?: boolean;
  localStoragePath?: string;
  publish?: boolean;
  bucket?: string;
  cloudfrontDistributionId?: string;
  amiCopyTo?: string;
  amiShareWith?: string;
  signingKey?: string;
  mirror?: string;
  securityMirror?: string;
  workDir?: string;
  keepWorkDir?: boolean;
  /** false with --no-cache. */
  cache?: boolean;
  cacheDir?: string;
  cacheMaxAge?: string;
  /** Folders recipe files (files[].source, playbooks, org_repo.key) may come from besides the catalog's. */
  allowSourceDir?: string[];
  /** true with --test (the tests must run), false with --no-test; undefined: on when the image is stored and the host can run it. */
  test?: boolean;
  json?: boolean;
  verbose?: boolean;
  quiet?: boolean;
}

const EXAMPLES = `
Storage modes (at most one; none means --build-only):
  --build-only        leave the image in ./images/
  --local-storage     keep it in <path>/<release_label>/images/ with checksums and index.json
  --publish           upload it to S3 (--bucket, or the bucket of --apt-repo s3://<bucket>)

Examples:
  create_image --name webapp --distribution bookworm
  create_image --name webapp --distribution bookworm --local-storage --local-storage-path /srv/images
  create_image --name wrangler --distribution jammy --release-label hotdog --apt-repo https://apt.example.com --apt-repo-key org.asc
  create_image --name webapp --name dev-env --distribution bookworm --local-storage
  create_image --name dev-env --distribution bookworm --arch amd64 --arch arm64 --publish
  create_image --name bot --distribution noble --rosdistro-path ../rosdistro --timestamp 20261126.120000 --json

Exit codes: 0 built, 1 the build failed, 2 bad usage or input, 130 interrupted.`;

export function createImageCommand(version: string): Command {
  const command = new Command('create_image')
    .description('Build a Docker, LXD or bare-metal image of Debian/Ubuntu from a recipe.')
    .version(version, '-V, --version')
    .requiredOption('--name <image>', 'image (recipe) from the catalog; repeat to build several in one run', collect)
    .requiredOption('--distribution <codename>', 'focal, jammy, noble, bookworm or trixie')
    .option('--arch <arch>', 'amd64 (the default) or arm64; repeat to build each image for several', collect)
    .option('--apt-repo <url>', "the organisation's APT repository (http(s):// or s3://) holding the bundle")
    .option('--apt-repo-key <file>', 'OpenPGP key that signs the APT repository')
    .option('--no-bundle', 'do not install the org bundle (when --apt-repo only names the publish bucket)')
    .option('--release-track <track>', 'release track (default: from the common configuration)')
    .option('--release-label <label>', 'release label (default: the release track)')
    .option('--flavour <flavour>', 'bundle flavour (default: the recipe bundle_flavour, else the image name)')
    .option('--organization <org>', 'organization (default: from the common configuration)')
    .option('--docker-registry <registry>', 'registry docker images are pushed to')
    .option('--rosdistro-path <path>', 'read images and common settings from a tailor rosdistro')
    .option('--recipes-path <path>', 'read recipes from this catalog folder instead of the bundled one')
    .option('--timestamp <YYYYMMDD.HHMMSS>', `build timestamp, UTC, at most ${TIMESTAMP_MAX_SKEW_SECONDS / 60} minutes ahead (default: now)`)
    .option('--build-only', 'leave the artifacts in ./images/ (the default)')
    .option('--local-storage', 'store in --local-storage-path with an index')
    .option('--local-storage-path <path>', 'local storage folder (default: ./images)')
    .option('--publish', 'publish to S3 (+ CloudFront, + the registry for docker images)')
    .option('--bucket <name>', 'S3 bucket to publish to (default: common bucket, else the --apt-repo s3:// bucket)')
    .option('--cloudfront-distribution-id <id>', 'invalidate the index on this distribution after publishing')
    .option('--ami-copy-to <regions>', 'ami images: also copy the AMI to these regions (comma-separated)')
    .option('--ami-share-with <accounts>', 'ami images: let these AWS accounts launch the AMI (comma-separated 12-digit ids)')
    .option('--signing-key <file>', 'OpenPGP secret key (no passphrase): sign each release folder (SHA256SUMS.gpg), its index and pushed docker images')
    .option('--mirror <url>', "override the distribution's archive")
    .option('--security-mirror <url>', 'override the security archive ("none" to leave it out)')
    .option('--work-dir <path>', 'where builds work (default: /var/tmp/tailor-image)')
    .option('--keep-work-dir', 'keep the work directory for inspection')
    .option('--no-cache', 'bootstrap from the mirror even when a cached rootfs exists (a cold build)')
    .option('--cache-dir <path>', 'bootstrap cache (default: $TAILOR_IMAGE_CACHE_DIR or ~/.cache/tailor-image)')
    .option('--cache-max-age <hours>', 'rebuild cached rootfs older than this (default: 24)')
    .option('--allow-source-dir <dir>', "let recipes copy files from this folder too (besides the catalog's); repeatable", collect)
    .option('--test', 'start each image in its runtime (LXD, podman, QEMU) and run the checks before storing it; fail if this host cannot')
    .option('--no-test', 'store without testing (default: test local-storage and publish builds when the host can run them)')
    .option('--json', 'print a machine-readable summary on stdout')
    .addOption(new Option('-v, --verbose', 'show every command and its output').conflicts('quiet'))
    .addOption(new Option('-q, --quiet', 'print only warnings, errors and the result'))
    .addHelpText('after', EXAMPLES)
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput(commanderErrorOutput('create_image'));
  return refuseRepeatedFlags(command, ['--name', '--arch', '--allow-source-dir']);
}

/** A repeatable option's values, in the order given. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
