import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { distribution } from '../../lib/core/distributions';
import { silentLog } from '../../lib/core/log';
import { BuildRequest } from '../../lib/builder/request';
import { CheckFailedError, runImageTests } from '../../lib/builder/image-tests';
import { lxdRuntime } from '../../lib/builder/image-tests/lxd';
import { podmanRuntime } from '../../lib/builder/image-tests/podman';
import { podmanBootRuntime } from '../../lib/builder/image-tests/podman-boot';
import { qemuRuntime } from '../../lib/builder/image-tests/qemu';
import { TestRuntime } from '../../lib/builder/image-tests/guest';
import { DirectoryCatalog } from '../../lib/recipes/catalog';
import { Artifact } from '../../lib/core/image';
import { REPO_ROOT, expectOneLineFailure, runCreateImage } from '../support/cli';
import { lxdPrerequisites } from '../support/lxd';
import { describeWith, rootUser, tool } from '../support/prereq';

/**
 * The test gate end to end: tiny recipes of every build type (test/fixtures/catalog-gate)
 * built by create_image into local storage, each started in its runtime (LXD, podman, QEMU)
 * and checked before it is stored. One run builds the three passing images on one shared
 * bootstrap; a second builds an image whose service fails to start (the gate's failure path
 * in create_image: exit 1, nothing stored). The failing lxd, docker and disk recipes' checks
 * run on the stored images through the gate's own runner (no second build: a disk build is
 * the most expensive thing here), and so does the podman-systemd path for hosts without LXD.
 */
const CATALOG = join(REPO_ROOT, 'test', 'fixtures', 'catalog-gate');
const TIMESTAMP = '20261202.020000';
const RUN_TIMEOUT = 40 * 60 * 1000;

const sha256Of = (path: string) =>
  new Promise<string>((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path).on('data', (chunk) => hash.update(chunk)).on('end', () => resolve(hash.digest('hex'))).on('error', reject);
  });

describeWith(
  'the test gate: every image is started and checked before it is stored',
  [rootUser(), tool('mmdebstrap'), ...lxdPrerequisites(), tool('podman'), tool('runc'), tool('qemu-system-x86_64', 'qemu-system-x86'), tool('debugfs', 'e2fsprogs')],
  () => {
    const work = mkdtempSync(join('/var/tmp', 'tailor-gate-e2e-'));
    const store = join(work, 'store');
    const images = join(store, 'hotdog', 'images');
    const run = (names: string[], timestamp: string) =>
      runCreateImage(
        ['--recipes-path', CATALOG, ...names.flatMap((name) => ['--name', name]), '--distribution', 'bookworm',
          '--local-storage', '--local-storage-path', store, '--timestamp', timestamp, '--work-dir', join(work, 'work')],
        { timeoutMs: RUN_TIMEOUT },
      );
    const imageName = (name: string, timestamp = TIMESTAMP) => `acme_${name}_bookworm_hotdog_${timestamp}`;
    const index = () => JSON.parse(readFileSync(join(images, 'index.json'), 'utf8'));
    const storedNamed = (name: string) => readdirSync(images).filter((file) => file.includes(`_${name}_`));
    let first: Promise<Awaited<ReturnType<typeof run>>>;

    beforeAll(() => {
      first = run(['gate-lxd', 'gate-docker', 'gate-disk'], TIMESTAMP);
    });
    afterAll(() => rmSync(work, { recursive: true, force: true }));

    test('passing lxd, docker and bare_metal images are stored with their results', async () => {
      const result = await first;
      expect(result.code).toBe(0);
      expect(result.stderr).toMatch(/test: running in LXD as tailor-test-/);
      expect(result.stderr).toMatch(/test: booting a throwaway copy of the disk under qemu-system-x86_64 \(TCG, /);

      const entries = index()[TIMESTAMP];
      const checks = (entry: { tests: { checks: { name: string; passed: boolean }[] } }) =>
        entry.tests.checks.map((check) => `${check.name}:${check.passed}`);
      const lxd = entries.raw['gate-lxd'].bookworm;
      expect(lxd.tests.runtime).toBe('lxd');
      expect(checks(lxd)).toEqual(['init:true', 'user:true', 'hostname:true', 'marker-file:true', 'user-home:true']);
      const docker = entries.docker['gate-docker'].bookworm;
      expect(docker.tests.runtime).toBe('podman');
      expect(checks(docker)).toEqual(['user:true', 'greeting-set:true']);
      const disk = entries.raw['gate-disk'].bookworm;
      expect(disk.tests.runtime).toBe('qemu');
      expect(checks(disk)).toEqual(['init:true', 'user:true', 'hostname:true', 'root-on-disk:true']);
      for (const entry of [lxd, docker, disk]) expect(entry.tests.seconds).toBeGreaterThan(0);
    }, RUN_TIMEOUT);

    test('the stored disk is bit-identical to the disk before testing', async () => {
      await first;
      const entry = index()[TIMESTAMP].raw['gate-disk'].bookworm;
      const file = join(images, `${imageName('gate-disk')}.raw.xz`);
      // The index holds the digest the checksum stage took before the test stage ran.
      expect(await sha256Of(file)).toBe(entry.sha256);
      expect(readFileSync(join(images, `${imageName('gate-disk')}.sha256`), 'utf8')).toContain(entry.sha256);
      expect(readdirSync(join(work, 'work'))).toEqual([]); // the throwaway copy went with the work dir
    }, RUN_TIMEOUT);

    /** The stored image of a build, and a request for another recipe of the catalog on it. */
    function storedCase(built: string, recipeName: string, extension: string) {
      const catalog = new DirectoryCatalog(CATALOG);
      const path = join(images, `${imageName(built)}.${extension}`);
      const request = {
        name: recipeName, recipe: catalog.recipe(recipeName), distribution: distribution('bookworm'), architecture: 'amd64' as const, nameField: recipeName, organization: 'acme',
        releaseTrack: 'hotdog', releaseLabel: 'hotdog', flavour: recipeName, timestamp: TIMESTAMP, imageName: imageName(built),
        installBundle: false, workRoot: work, keepWorkDir: false, noCache: false, cacheDir: work, cacheMaxAgeHours: 24, allowedSourceDirs: [],
      } as BuildRequest;
      const artifact = { path, fileName: `${imageName(built)}.${extension}`, role: 'image' } as Artifact;
      return { plan: { request, log: silentLog, signal: new AbortController().signal }, artifact };
    }

    async function failingCheck(runtime: TestRuntime, built: string, recipeName: string, extension: string) {
      await first;
      const { plan, artifact } = storedCase(built, recipeName, extension);
      const scratch = mkdtempSync(join(work, 'scratch-'));
      const digest = await sha256Of(artifact.path);
      const error = await runImageTests(plan, runtime, artifact, scratch).then(() => undefined, (e: unknown) => e);
      expect(await sha256Of(artifact.path)).toBe(digest);
      return error as CheckFailedError;
    }

    test('a failing lxd test is named with its last lines, and the instance and image are gone from LXD', async () => {
      const error = await failingCheck(lxdRuntime, 'gate-lxd', 'gate-lxd-fail', 'tar.gz');
      expect(error).toBeInstanceOf(CheckFailedError);
      expect(error.check).toBe('expected-to-fail');
      expect(error.message).toBe('test expected-to-fail failed in lxd (exit 3); nothing was stored: gate-lxd-fail says no');
      expect(execFileSync('lxc', ['list', '--format', 'csv', '-c', 'n'], { encoding: 'utf8' })).not.toMatch(/tailor-test-/);
      expect(execFileSync('lxc', ['image', 'list', '--format', 'csv', '-c', 'l'], { encoding: 'utf8' })).not.toMatch(/tailor-test-/);
    }, 10 * 60 * 1000);

    test('a failing docker test is named with its last lines', async () => {
      const error = await failingCheck(podmanRuntime, 'gate-docker', 'gate-docker-fail', 'docker.tar');
      expect(error).toBeInstanceOf(CheckFailedError);
      expect(error.check).toBe('missing-tool');
      expect(error.message).toMatch(/^test missing-tool failed in podman \(exit 1\); nothing was stored/);
    }, 10 * 60 * 1000);

    test('a failing disk test is named with its last lines; the stored disk is not written', async () => {
      const error = await failingCheck(qemuRuntime, 'gate-disk', 'gate-disk-fail', 'raw.xz');
      expect(error).toBeInstanceOf(CheckFailedError);
      expect(error.check).toBe('expected-to-fail');
      expect(error.message).toBe('test expected-to-fail failed in qemu (exit 1); nothing was stored: gate-disk-fail says no');
    }, 10 * 60 * 1000);

    test('where no LXD daemon runs, podman boots the lxd image with systemd and the same checks pass', async () => {
      await first;
      const { plan, artifact } = storedCase('gate-lxd', 'gate-lxd', 'tar.gz');
      const report = await runImageTests(plan, podmanBootRuntime, artifact, mkdtempSync(join(work, 'scratch-')));
      expect(report.runtime).toBe('podman-systemd');
      expect(report.checks.map((check) => `${check.name}:${check.passed}`)).toEqual(['init:true', 'user:true', 'hostname:true', 'marker-file:true', 'user-home:true']);
    }, 10 * 60 * 1000);

    test('a service that fails to start is caught by the built-in init check: exit 1, the unit named, nothing stored', async () => {
      await first;
      const timestamp = '20261202.020100';
      const result = await run(['gate-broken-unit'], timestamp);
      expectOneLineFailure(result, /^create_image: error: test init failed in lxd \(exit 1\); nothing was stored/, 1);
      expect(result.stderr).toMatch(/\| gate-broken\.service +loaded failed failed/);
      expect(storedNamed('gate-broken-unit')).toEqual([]);
      expect(index()[timestamp]).toBeUndefined();
      expect(existsSync(join(images, `${imageName('gate-broken-unit', timestamp)}.tar.gz`))).toBe(false);
    }, RUN_TIMEOUT);
  },
);
