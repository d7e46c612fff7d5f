import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runCommand, runCreateImage } from '../support/cli';
import { lxdPrerequisites, waitForSystemd } from '../support/lxd';
import { describeWith, rootUser, tool } from '../support/prereq';
import { RunningServe, startServe } from '../support/serve';
import { makeTestTls, trustCaOnHost, TestTls } from '../support/test-ca';

const exec = promisify(execFile);
const BUILD_TIMEOUT = 15 * 60 * 1000;
const LAUNCH_TIMEOUT = 15 * 60 * 1000;
const TIMESTAMPS = ['20261126.101500', '20261126.111500', '20261127.090000'];
const imageName = (timestamp: string) => `acme_webapp_bookworm_hotdog_${timestamp}`;
const PRODUCT = 'webapp:bookworm:default:amd64';
/** Where LXD 5.0's daemon caches a simplestreams server's index files (for an hour). */
const LXD_DAEMON_CACHE = '/var/cache/lxd';

describeWith(
  'a local store served over HTTPS is an LXD simplestreams image server',
  [rootUser(), tool('mmdebstrap'), tool('pigz'), tool('openssl'), tool('update-ca-certificates', 'ca-certificates'), ...lxdPrerequisites()],
  () => {
    const work = mkdtempSync(join(tmpdir(), 'simplestreams-lxd-'));
    const store = join(work, 'store');
    const imagesDir = join(store, 'hotdog', 'images');
    // A private lxc client configuration, so the remote is added for this test only.
    const lxcConf = join(work, 'lxc-config');
    const remote = `tailor-ss-${process.pid}`;
    const containers = [`tailor-ss-a-${process.pid}`, `tailor-ss-b-${process.pid}`];
    const sha256: Record<string, string> = {};
    let tls: TestTls;
    let untrust: (() => void) | undefined;
    let server: RunningServe | undefined;

    const lxc = async (args: string[], timeoutMs = 120000): Promise<string> => {
      const running = exec('lxc', args, { timeout: timeoutMs, maxBuffer: 16 << 20, env: { ...process.env, LXD_CONF: lxcConf } });
      // `lxc launch`/`lxc init` read an instance config from stdin when it is not a terminal.
      running.child.stdin?.end();
      const { stdout } = await running;
      return stdout;
    };
    const fingerprintOf = async (ref: string) => /^Fingerprint: (\S+)$/m.exec(await lxc(['image', 'info', ref]))?.[1];
    const listedFingerprints = async () =>
      (JSON.parse(await lxc(['image', 'list', `${remote}:`, '--format', 'json'])) as { fingerprint: string }[])
        .map((image) => image.fingerprint)
        .sort();
    const streams = () => JSON.parse(readFileSync(join(store, 'streams', 'v1', 'images.json'), 'utf8'));

    async function build(timestamp: string): Promise<void> {
      const result = await runCreateImage(
        ['--name', 'webapp', '--distribution', 'bookworm', '--local-storage', '--no-test', '--local-storage-path', store, '--timestamp', timestamp],
        { timeoutMs: BUILD_TIMEOUT },
      );
      if (result.code !== 0) throw new Error(`build ${timestamp} failed: ${result.stderr.trim().split('\n').pop()}`);
      const file = join(imagesDir, `${imageName(timestamp)}.tar.gz`);
      sha256[timestamp] = createHash('sha256').update(readFileSync(file)).digest('hex');
    }

    beforeAll(async () => {
      mkdirSync(store);
      mkdirSync(join(lxcConf, 'servercerts'), { recursive: true });
      tls = makeTestTls(work);
      untrust = trustCaOnHost(tls.caCert, `tailor-image-test-${process.pid}`);
      await build(TIMESTAMPS[0]);
      await build(TIMESTAMPS[1]);
      server = await startServe(store, tls.cert, tls.key);
      // The lxc client reads the host's trust store on every run. The LXD daemon reads it
      // once, when it starts, so a CA added later is not in it: the client hands the
      // daemon the certificate in <LXD_CONF>/servercerts/<remote>.crt with the request.
      copyFileSync(tls.caCert, join(lxcConf, 'servercerts', `${remote}.crt`));
    }, 2 * BUILD_TIMEOUT + 60000);

    afterAll(async () => {
      for (const container of containers) await lxc(['delete', '--force', container]).catch(() => undefined);
      for (const fingerprint of Object.values(sha256)) await lxc(['image', 'delete', fingerprint]).catch(() => undefined);
      await lxc(['remote', 'remove', remote]).catch(() => undefined);
      await server?.stop();
      if (server) rmSync(join(LXD_DAEMON_CACHE, createHash('sha256').update(server.url).digest('hex')), { recursive: true, force: true });
      untrust?.();
      rmSync(work, { recursive: true, force: true });
    }, 300000);

    test('the store keeps streams/v1 listing both builds under one product', () => {
      const index = JSON.parse(readFileSync(join(store, 'streams', 'v1', 'index.json'), 'utf8'));
      expect(index.index.images).toMatchObject({ datatype: 'image-downloads', path: 'streams/v1/images.json', products: [PRODUCT] });
      const product = streams().products[PRODUCT];
      expect(product.aliases).toBe('webapp/bookworm,webapp/bookworm/default');
      expect(Object.keys(product.versions).sort()).toEqual(TIMESTAMPS.slice(0, 2));
      for (const timestamp of TIMESTAMPS.slice(0, 2)) {
        const items = product.versions[timestamp].items;
        for (const ftype of ['lxd_combined.tar.gz', 'incus_combined.tar.gz']) {
          expect(items[ftype]).toMatchObject({
            ftype,
            path: `hotdog/images/${imageName(timestamp)}.tar.gz`,
            sha256: sha256[timestamp],
            combined_sha256: sha256[timestamp],
          });
        }
      }
    });

    test('LXD adds the HTTPS server as a simplestreams remote and lists both versions', async () => {
      await lxc(['remote', 'add', remote, server!.url, '--protocol', 'simplestreams', '--public']);
      expect(await listedFingerprints()).toEqual([sha256[TIMESTAMPS[0]], sha256[TIMESTAMPS[1]]].sort());
      expect(await fingerprintOf(`${remote}:webapp/bookworm`)).toBe(sha256[TIMESTAMPS[1]]);
      expect(await fingerprintOf(`${remote}:webapp/bookworm/default`)).toBe(sha256[TIMESTAMPS[1]]);
    });

    test('lxc launch <remote>:webapp/bookworm launches the newest build', async () => {
      await lxc(['launch', `${remote}:webapp/bookworm`, containers[0]], LAUNCH_TIMEOUT);
      expect((await lxc(['config', 'get', containers[0], 'volatile.base_image'])).trim()).toBe(sha256[TIMESTAMPS[1]]);
      expect(['running', 'degraded']).toContain(await waitForSystemd(containers[0], 300000));
      const ota = (await lxc(['exec', containers[0], '--', 'cat', '/home/webapp/.ota.json'])).trim();
      expect(JSON.parse(ota)).toEqual({ active_version: imageName(TIMESTAMPS[1]) });
    }, LAUNCH_TIMEOUT + 360000);

    test('after a third build the alias moves to it', async () => {
      await build(TIMESTAMPS[2]);
      expect(await listedFingerprints()).toEqual(TIMESTAMPS.map((t) => sha256[t]).sort());
      expect(await fingerprintOf(`${remote}:webapp/bookworm`)).toBe(sha256[TIMESTAMPS[2]]);
      // The daemon launches by alias from its cached copy of the image (refreshed every
      // images.auto_update_interval, 6 h), and keeps the server's index for an hour. Let
      // that hour pass for it, then refresh the cached image as its auto-update would.
      const cache = join(LXD_DAEMON_CACHE, createHash('sha256').update(server!.url).digest('hex'));
      const twoHoursAgo = new Date(Date.now() - 2 * 3600 * 1000);
      if (existsSync(cache)) for (const name of readdirSync(cache)) utimesSync(join(cache, name), twoHoursAgo, twoHoursAgo);
      await lxc(['image', 'refresh', sha256[TIMESTAMPS[1]]], LAUNCH_TIMEOUT);
      await lxc(['init', `${remote}:webapp/bookworm`, containers[1]], LAUNCH_TIMEOUT);
      expect((await lxc(['config', 'get', containers[1], 'volatile.base_image'])).trim()).toBe(sha256[TIMESTAMPS[2]]);
    }, BUILD_TIMEOUT + LAUNCH_TIMEOUT + 60000);

    test('cleanup prunes the oldest version and it disappears from lxc image list', async () => {
      const result = await runCommand('cleanup_images',
        ['--release-label', 'hotdog', '--local-storage-path', store, '--organization', 'acme', '--num-to-keep', '2'], { timeoutMs: 120000 });
      expect(result.stderr).not.toMatch(/error:/);
      expect(result.code).toBe(0);
      expect(existsSync(join(imagesDir, `${imageName(TIMESTAMPS[0])}.tar.gz`))).toBe(false);
      expect(Object.keys(streams().products[PRODUCT].versions).sort()).toEqual(TIMESTAMPS.slice(1));
      expect(await listedFingerprints()).toEqual(TIMESTAMPS.slice(1).map((t) => sha256[t]).sort());
      expect(await fingerprintOf(`${remote}:webapp/bookworm`)).toBe(sha256[TIMESTAMPS[2]]);
    }, 180000);
  },
);
