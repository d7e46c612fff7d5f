import { Duration } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as logs from 'aws-cdk-lib/aws-logs';
import { BuildSecret } from './build-secret';
import { ProjectNetworkProps } from './project-base';

/**
 * What a build is built with: the settings `ImageBuildProject` and `ImageFactory` share,
 * each the same `create_image` flag (docs/AWS.md). Defined once here; the factory fills
 * in what it leaves unset from its catalog's common settings.
 */
export interface ImageBuildOptions extends ProjectNetworkProps {
  /** The organization images are named after. @default the catalog's common organization */
  readonly organization?: string;
  /** The release images are published under (`<label>/images/`). @default the catalog's release_label, else the release track */
  readonly releaseLabel?: string;
  /**
   * Further release labels a build may be started with (`trigger --set RELEASE_LABEL=<label>`):
   * each is granted like `releaseLabel` and cleaned up by the same policy; any other label
   * is refused by `trigger` before anything starts.
   * @default none: builds publish under releaseLabel only
   */
  readonly releaseLabels?: string[];
  /** The release track. @default the catalog's common release_track */
  readonly releaseTrack?: string;
  /**
   * The common bundle flavour: used for recipes without their own bundle_flavour, as the
   * catalog's common `flavour` is by `create_image`.
   * @default the catalog's common flavour, else the recipe's name
   */
  readonly flavour?: string;
  /** The org APT repository holding the bundle (`http(s)://` or `s3://bucket[/prefix]`). @default the catalog's apt_repo, else none */
  readonly aptRepo?: string;
  /** The registry docker images are pushed to (`<registry>[/<path>]`). @default the catalog's docker_registry, else an ECR repository */
  readonly dockerRegistry?: string;
  /**
   * An ECR repository docker images are pushed to (its registry is DOCKER_REGISTRY, the
   * repository named like the organization); the builds may push to it and only to it.
   * @default ImageFactory makes one (`<factoryName>/<organization>`) unless dockerRegistry is given; a lone ImageBuildProject pushes to dockerRegistry
   */
  readonly repository?: ecr.IRepository;
  /** The archive to bootstrap from. @default the catalog's mirror, else each distribution's default */
  readonly mirror?: string;
  /**
   * Secrets by the environment variable a recipe reads them from (its user's
   * `password: {env: NAME}`): `{ WRANGLER_PASSWORD: BuildSecret.fromSsmParameter(...) }`.
   * Each project gets (and may read) only the secrets its recipe names; a recipe naming one
   * that is not given fails synth.
   * @default none
   */
  readonly secrets?: Record<string, BuildSecret>;
  /** The OpenPGP key that signs the org repository, as APT_REPO_KEY. @default none (the recipe's org_repo.key) */
  readonly aptRepoKey?: BuildSecret;
  /**
   * The release signing key (docs/SIGNING.md): an ASCII-armored OpenPGP secret key without a
   * passphrase, as a secret's string (`BuildSecret.fromSecretsManager(secret)`). CodeBuild
   * reads it when the build starts, as SIGNING_KEY; the buildspec writes it to a private
   * temporary file for `--signing-key` and unsets the variable, so it is in no command line
   * and no child's environment. Builds and the cleanup then sign each release.
   * @default none: nothing is signed
   */
  readonly signingKey?: BuildSecret;
  /**
   * Hours a cached bootstrapped rootfs is used before it is rebuilt (`--cache-max-age`).
   * @default the schedule's interval plus 12 hours (so each scheduled build reuses the last one's), else 24 hours
   */
  readonly cacheMaxAge?: Duration;
  /** How long build logs are kept. @default THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
  /**
   * The build image of arm64 projects (an aarch64 image with apt, Node 20 or 22 and bash, e.g.
   * `LinuxArmBuildImage.fromEcrRepository(...)` of your own mirror of it).
   * @default LinuxArmBuildImage.fromDockerRegistry(ARM64_BUILD_IMAGE_NAME): Debian 12 with Node 22 from ECR Public
   */
  readonly arm64BuildImage?: codebuild.IBuildImage;
  /** ami recipes: regions the AMI is copied to besides the stack's (`--ami-copy-to`). @default none */
  readonly amiCopyRegions?: string[];
  /** ami recipes: AWS accounts allowed to launch the AMI (`--ami-share-with`). @default none */
  readonly amiShareAccounts?: string[];
}
