import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, runCreateImage } from '../support/cli';
import { diffDisks, diffTarballs, sha256Of, sha256OfDecompressed } from '../support/artifact-diff';
import { commandSucceeds, describeWith, rootUser, tool } from '../support/prereq';

/**
 * Reproducible builds: two cold (--no-cache) runs with one --timestamp, minutes apart, each
 * building webapp (lxd), dev-env (docker) and wrangler-cloud (bare_metal: wrangler with the
 * cloud kernel, to keep two cold builds within the test's time) on one shared bootstrap,
 * give bit-identical artifacts. On a mismatch the test names the files that differ and
 * keeps both runs' images.
 */
const CATALOG = join(REPO_ROOT, 'test/fixtures/catalog-reproducible');

const TIMESTAMP = '20261201.060000';
const MINUTE = 60_000;
/** A fixed crypt(3) hash (openssl passwd -6 -salt tailorrepro reproducible): a clear password would be salted at random. */
const PASSWORD_HASH = '$6$tailorrepro$lBho8USypeWN9fRVsxbgd8UMc1zXaVB5LSEpTgCN5ObiQlilgwFXeVkjcn9yEr9i3WXt8dcF8cKpPi25/bz93/';

interface Run {
  dir: string;
  images: string;
}

/** The OCI digests of a dev-env .oci.tar: manifest (from index.json), config and layer (from the manifest). */
function ociDigests(ociTar: string): { manifest: string; config: string; layer: string } {
  const read = (member: string) => execFileSync('tar', ['-xOf', ociTar, member], { maxBuffer: 1 << 24 }).toString();
  const manifest = (JSON.parse(read('index.json')) as { manifests: { digest: string }[] }).manifests[0].digest;
  const body = JSON.parse(read(`blobs/sha256/${manifest.split(':')[1]}`)) as { config: { digest: string }; layers: { digest: string }[] };
  return { manifest, config: body.config.digest, layer: body.layers[0].digest };
}

/** The layer of a dev-env .oci.tar, extracted to a file (for the tree diff). */
function extractLayer(ociTar: string, digest: string, into: string): string {
  execFileSync('tar', ['-xf', ociTar, '-C', into, `blobs/sha256/${digest.split(':')[1]}`]);
  return join(into, 'blobs/sha256', digest.split(':')[1]);
}

describeWith(
  'reproducible builds: two cold builds with one timestamp give bit-identical lxd, OCI and raw disk artifacts',
  [
    rootUser(), tool('mmdebstrap'), tool('pigz'), tool('xz', 'xz-utils'), tool('sfdisk', 'fdisk'), tool('mkfs.vfat', 'dosfstools'),
    tool('mcopy', 'mtools'), tool('debugfs', 'e2fsprogs'), tool('python3'),
    commandSucceeds('ansible with community.general (apt-get install ansible)', 'ansible-doc', ['-t', 'connection', 'community.general.chroot']),
  ],
  () => {
    const runs: Run[] = [];
    const image = (run: Run, name: string, suffix: string) => join(run.images, `acme_${name}_bookworm_hotdog_${TIMESTAMP}.${suffix}`);

    let keep = false;
    afterAll(() => {
      if (keep) process.stderr.write(`reproducible: the images are kept in ${runs.map((run) => run.images).join(' and ')}\n`);
      else for (const run of runs) rmSync(run.dir, { recursive: true, force: true });
    });

    test('webapp .tar.gz, dev-env OCI digests and wrangler raw disk are equal', async () => {
      for (const n of [0, 1]) {
        const dir = mkdtempSync(`/var/tmp/tailor-reproducible-${n}-`);
        const started = Date.now();
        const result = await runCreateImage(
          ['--recipes-path', CATALOG, '--allow-source-dir', join(REPO_ROOT, 'recipes'),
            '--name', 'webapp', '--name', 'dev-env', '--name', 'wrangler-cloud', '--distribution', 'bookworm', '--build-only',
            '--no-cache', '--timestamp', TIMESTAMP, '--work-dir', join(dir, 'work'), '--json'],
          { cwd: dir, env: { WRANGLER_PASSWORD: PASSWORD_HASH }, timeoutMs: 30 * MINUTE },
        );
        expect({ code: result.code, stderr: result.code === 0 ? '' : result.stderr.slice(-3000) }).toEqual({ code: 0, stderr: '' });
        process.stderr.write(`reproducible: run ${n + 1} took ${Math.round((Date.now() - started) / 1000)} s\n`);
        const summaries = JSON.parse(result.stdout) as { name: string; not_reproducible: string[]; source_date_epoch: number }[];
        expect(summaries.map((s) => [s.name, s.not_reproducible, s.source_date_epoch])).toEqual(
          ['webapp', 'dev-env', 'wrangler-cloud'].map((name) => [name, [], Date.UTC(2026, 11, 1, 6) / 1000]),
        );
        runs.push({ dir, images: join(dir, 'images') });
      }
      const [a, b] = runs;

      const differences: string[] = [];
      const webapp = [a, b].map((run) => image(run, 'webapp', 'tar.gz'));
      if (sha256Of(webapp[0]) !== sha256Of(webapp[1])) differences.push(...diffTarballs(webapp[0], webapp[1], 'webapp'));

      const ociTars = [a, b].map((run) => image(run, 'dev-env', 'oci.tar'));
      const digests = ociTars.map(ociDigests);
      if (digests[0].layer !== digests[1].layer) {
        differences.push(...diffTarballs(extractLayer(ociTars[0], digests[0].layer, a.dir), extractLayer(ociTars[1], digests[1].layer, b.dir), 'dev-env layer'));
      } else if (digests[0].config !== digests[1].config) {
        const config = (tar: string, digest: string) => execFileSync('tar', ['-xOf', tar, `blobs/sha256/${digest.split(':')[1]}`]).toString();
        differences.push(`dev-env config: ${config(ociTars[0], digests[0].config)}  vs  ${config(ociTars[1], digests[1].config)}`);
      }
      const dockerTars = [a, b].map((run) => image(run, 'dev-env', 'docker.tar'));
      if (sha256Of(dockerTars[0]) !== sha256Of(dockerTars[1]) && digests[0].manifest === digests[1].manifest) {
        differences.push('dev-env: equal OCI digests but the .docker.tar archives differ (the archive\'s tar metadata)');
      }

      const disks = [a, b].map((run) => image(run, 'wrangler-cloud', 'raw.xz'));
      if (sha256OfDecompressed(disks[0]) !== sha256OfDecompressed(disks[1])) differences.push(...diffDisks(disks[0], disks[1], 'wrangler disk'));

      keep = differences.length > 0;
      expect(differences).toEqual([]);
      expect(digests[1]).toEqual(digests[0]);
      // What the build wrote carries the timestamp's time, not the clock's.
      const listing = execFileSync('tar', ['-tvf', webapp[0], '--full-time', 'rootfs/etc/tailor-image/build.json'], { env: { ...process.env, TZ: 'UTC' } }).toString();
      expect(listing).toContain(' 2026-12-01 06:00:00 rootfs/etc/tailor-image/build.json');
    }, 65 * MINUTE);
  },
);
