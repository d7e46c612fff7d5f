import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, runCreateImage } from '../support/cli';
import { describeWith, rootUser, tool } from '../support/prereq';
import { EnvironmentReport, watchBuilderChildren } from '../support/process-env';
import { filesContaining, pathFingerprint, unpack } from '../support/tree';

const CATALOG = join(REPO_ROOT, 'test', 'fixtures', 'catalog-small');
/** Where the recipe's links point; the test makes the same folder on the host, with sentinels. */
const PROBE = '/srv/tailor-escape-probe';
/** Host paths the recipe's absolute links name (tzdata's /etc/localtime, base-files' /var/lock, the probe). */
const HOST_PATHS = ['/usr/share/zoneinfo/Etc/UTC', '/run/lock/tailor-escape-probe', PROBE];
const TIMESTAMP = '20261126.141500';
const IMAGE = `acme_links-out_bookworm_hotdog_${TIMESTAMP}`;
const BUILD_TIMEOUT = 15 * 60 * 1000;

function makeHostProbe(): void {
  rmSync(PROBE, { recursive: true, force: true });
  for (const dir of ['tmp', 'ssh', 'root', 'record']) mkdirSync(join(PROBE, dir), { recursive: true });
  writeFileSync(join(PROBE, 'tmp', 'host-tmp-file'), 'host tmp\n');
  writeFileSync(join(PROBE, 'ssh', 'ssh_host_ed25519_key'), 'host key\n', { mode: 0o600 });
  writeFileSync(join(PROBE, 'root', 'host-file'), 'host root\n');
  writeFileSync(join(PROBE, 'hostname'), 'host-hostname\n');
  writeFileSync(join(PROBE, 'machine-id'), '0123456789abcdef0123456789abcdef\n');
}

const fingerprints = () => Object.fromEntries(HOST_PATHS.map((path) => [path, pathFingerprint(path)]));

describeWith(
  'a hostile recipe: nothing leaves the rootfs, no host secret reaches the image',
  [rootUser(), tool('mmdebstrap'), tool('pigz')],
  () => {
    const work = mkdtempSync(join('/var/tmp', 'tailor-test-escape-'));
    const secrets = {
      AWS_ACCESS_KEY_ID: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`,
      AWS_SECRET_ACCESS_KEY: randomBytes(20).toString('base64url'),
      TAILOR_REGISTRY_PASSWORD: randomBytes(16).toString('hex'),
    };
    const needles = Object.values(secrets);
    const env = { ...secrets, TAILOR_IMAGE_WORK_DIR: join(work, 'builds') };
    let before: Record<string, string>;
    let built = { code: -1, stdout: '', stderr: '' };
    let watched: EnvironmentReport = { seen: new Set(), chrooted: new Set(), leaks: [] };
    let rootfs = '';

    beforeAll(async () => {
      makeHostProbe();
      before = fingerprints();
      const watch = watchBuilderChildren(needles, ['mmdebstrap']);
      try {
        built = await runCreateImage(
          ['--name', 'links-out', '--distribution', 'bookworm', '--recipes-path', CATALOG, '--build-only', '--timestamp', TIMESTAMP, '--json'],
          { cwd: work, env, timeoutMs: BUILD_TIMEOUT },
        );
      } finally {
        watched = watch.stop();
      }
      if (built.code === 0) rootfs = join(unpack(join(work, 'images', `${IMAGE}.tar.gz`)), 'rootfs');
    }, BUILD_TIMEOUT + 120000);

    afterAll(() => {
      rmSync(PROBE, { recursive: true, force: true });
      rmSync(work, { recursive: true, force: true });
      if (rootfs) rmSync(join(rootfs, '..'), { recursive: true, force: true });
    });

    test('the build succeeds', () => {
      expect(built.stderr).not.toMatch(/error:/);
      expect(built.code).toBe(0);
    });

    test('nothing outside the work directory changed: the host paths the links name are as they were', () => {
      expect(built.code).toBe(0);
      expect(fingerprints()).toEqual(before);
      // The sentinels are still there (the fingerprint would say so too; this says which).
      expect(readFileSync(join(PROBE, 'ssh', 'ssh_host_ed25519_key'), 'utf8')).toBe('host key\n');
      expect(readdirSync(join(PROBE, 'tmp'))).toEqual(['host-tmp-file']);
      expect(existsSync('/run/lock/tailor-escape-probe')).toBe(false);
    });

    test('the image has the recipe\'s files, and finalize did its work where the links lead inside the image', () => {
      expect(rootfs).not.toBe('');
      const probe = join(rootfs, PROBE.slice(1));
      // files: a final absolute link is replaced by the file; a file behind /var/lock -> /run/lock lands in the image's /run/lock.
      expect(lstatSync(join(rootfs, 'etc/localtime')).isFile()).toBe(true);
      expect(readFileSync(join(rootfs, 'etc/localtime'), 'utf8')).toBe('recipe localtime\n');
      expect(readFileSync(join(rootfs, 'usr/share/zoneinfo/Etc/UTC')).subarray(0, 4).toString()).toBe('TZif');
      expect(readlinkSync(join(rootfs, 'var/lock'))).toBe('/run/lock');
      expect(readFileSync(join(rootfs, 'run/lock/tailor-escape-probe'), 'utf8')).toBe('behind /var/lock\n');
      expect(lstatSync(join(rootfs, 'run/lock/tailor-escape-probe')).mode & 0o777).toBe(0o600);
      // finalize: the linked /var/tmp emptied in the image, the linked /etc/ssh without host keys.
      expect(readlinkSync(join(rootfs, 'var/tmp'))).toBe(`${PROBE}/tmp`);
      expect(readdirSync(join(probe, 'tmp'))).toEqual([]);
      expect(readlinkSync(join(rootfs, 'etc/ssh'))).toBe(`${PROBE}/ssh`);
      const ssh = readdirSync(join(probe, 'ssh'));
      expect(ssh).toEqual(expect.arrayContaining(['sshd_config', 'keep-me']));
      expect(ssh.filter((name) => name.startsWith('ssh_host_'))).toEqual([]);
      expect(existsSync(join(rootfs, 'etc/systemd/system/tailor-ssh-keygen.service'))).toBe(true);
      // /etc/hostname and /etc/machine-id were links out: now the image's own files.
      expect(lstatSync(join(rootfs, 'etc/hostname')).isFile()).toBe(true);
      expect(readFileSync(join(rootfs, 'etc/hostname'), 'utf8')).toBe('links-out\n');
      expect(lstatSync(join(rootfs, 'etc/machine-id')).isFile()).toBe(true);
      expect(readFileSync(join(rootfs, 'etc/machine-id'), 'utf8')).toBe('');
      // /root and /etc/tailor-image were links out: .ota.json and build.json are where they lead in the image.
      expect(JSON.parse(readFileSync(join(probe, 'root', '.ota.json'), 'utf8'))).toEqual({ active_version: IMAGE });
      expect(JSON.parse(readFileSync(join(probe, 'record', 'build.json'), 'utf8'))).toMatchObject({ image_name: IMAGE });
    });

    test('host secrets reach no chroot command, maintainer script, file of the image or output', () => {
      expect(rootfs).not.toBe('');
      // The last shell step (env > ...; sleep 2) was watched running in the chroot.
      expect([...watched.chrooted]).toEqual(expect.arrayContaining(['sh', 'sleep']));
      if (JSON.parse(built.stdout).cache !== 'hit') expect(watched.seen).toContain('mmdebstrap');
      expect(watched.leaks).toEqual([]);
      const shellEnv = readFileSync(join(rootfs, 'env-of-shell-step'), 'utf8');
      expect(shellEnv).toMatch(/^PATH=/m);
      expect(shellEnv).not.toMatch(/AWS_|TAILOR_/);
      for (const needle of needles) {
        expect(filesContaining(rootfs, needle)).toEqual([]);
        expect(built.stdout + built.stderr).not.toContain(needle);
      }
    });

    test('mmdebstrap and every package script it runs get no host secret (a cold bootstrap)', async () => {
      const watch = watchBuilderChildren(needles, ['mmdebstrap']);
      let cold;
      try {
        cold = await runCreateImage(
          ['--name', 'tiny-a', '--distribution', 'bookworm', '--recipes-path', CATALOG, '--build-only', '--no-cache', '--timestamp', TIMESTAMP],
          { cwd: work, env, timeoutMs: BUILD_TIMEOUT },
        );
      } finally {
        watched = watch.stop();
      }
      expect(cold.stderr).not.toMatch(/error:/);
      expect(cold.code).toBe(0);
      expect([...watched.seen]).toEqual(expect.arrayContaining(['mmdebstrap', 'apt-get', 'dpkg']));
      expect(watched.leaks).toEqual([]);
    }, BUILD_TIMEOUT);
  },
);
