import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCreateImage } from '../support/cli';
import { lxc, lxcExec, lxdPrerequisites, removeLxdThings, waitForSystemd } from '../support/lxd';
import { describeWith, rootUser, tool } from '../support/prereq';
import { fileDigests } from '../support/tree';

const TIMESTAMP = '20261126.101500';
const IMAGE = `acme_webapp_bookworm_hotdog_${TIMESTAMP}`;

describeWith(
  'webapp (lxd) from the Debian mirror into local storage, launched in LXD',
  [rootUser(), tool('mmdebstrap'), tool('pigz'), ...lxdPrerequisites()],
  () => {
    const store = mkdtempSync(join(tmpdir(), 'store-'));
    const imagesDir = join(store, 'hotdog', 'images');
    const alias = `tailor-test-${process.pid}`;
    const containers = [`tailor-a-${process.pid}`, `tailor-b-${process.pid}`];
    let built = { code: -1, stdout: '', stderr: '' };

    beforeAll(async () => {
      built = await runCreateImage(
        ['--name', 'webapp', '--distribution', 'bookworm', '--local-storage', '--local-storage-path', store,
          '--timestamp', TIMESTAMP, '--json'],
        { timeoutMs: 15 * 60 * 1000 },
      );
    }, 16 * 60 * 1000);

    afterAll(async () => {
      await removeLxdThings(containers, [alias]);
      rmSync(store, { recursive: true, force: true });
    }, 120000);

    test('create_image succeeds and reports the artifact as JSON', () => {
      expect(built.stderr).not.toMatch(/error:/);
      expect(built.code).toBe(0);
      const summary = JSON.parse(built.stdout);
      expect(summary).toMatchObject({ image_name: IMAGE, build_type: 'lxd', storage: 'local' });
      expect(summary.artifacts[0]).toMatchObject({ file: `${IMAGE}.tar.gz`, path: join(imagesDir, `${IMAGE}.tar.gz`) });
      expect(Object.keys(summary.timings)).toEqual(
        expect.arrayContaining(['verify', 'bootstrap', 'provision', 'finalize', 'pack', 'checksum', 'store']),
      );
    });

    test('the store holds the documented tree, and the checksums match the file', () => {
      expect(readdirSync(imagesDir).sort()).toEqual(
        [`${IMAGE}.manifest`, `${IMAGE}.md5`, `${IMAGE}.sha256`, `${IMAGE}.spdx.json`, `${IMAGE}.cdx.json`, `${IMAGE}.tar.gz`, 'index.json'].sort(),
      );
      const digests = fileDigests(join(imagesDir, `${IMAGE}.tar.gz`));
      expect(readFileSync(join(imagesDir, `${IMAGE}.md5`), 'utf8')).toBe(`${digests.md5}  ${IMAGE}.tar.gz\n`);
      expect(readFileSync(join(imagesDir, `${IMAGE}.sha256`), 'utf8')).toBe(`${digests.sha256}  ${IMAGE}.tar.gz\n`);
      const index = JSON.parse(readFileSync(join(imagesDir, 'index.json'), 'utf8'));
      expect(index[TIMESTAMP].raw.webapp.bookworm).toMatchObject({ file: IMAGE, checksum: digests.md5, sha256: digests.sha256 });
      const manifest = readFileSync(join(imagesDir, `${IMAGE}.manifest`), 'utf8');
      expect(manifest).toMatch(/^nginx\t\S+$/m);
      expect(manifest).toMatch(/^systemd\t\S+$/m);
    });

    test('the image imports into LXD and boots two containers that differ where they must', async () => {
      await lxc(['image', 'import', join(imagesDir, `${IMAGE}.tar.gz`), '--alias', alias], 300000);
      const info = await lxc(['image', 'info', alias]);
      expect(info).toMatch(/os: debian/);
      expect(info).toMatch(/release: bookworm/);
      for (const container of containers) await lxc(['launch', alias, container], 900000);
      const identities = [];
      for (const container of containers) {
        expect(['running', 'degraded']).toContain(await waitForSystemd(container));
        expect(await lxcExec(container, ['id', '-un', 'webapp'])).toBe('webapp');
        expect(JSON.parse(await lxcExec(container, ['cat', '/home/webapp/.ota.json']))).toEqual({ active_version: IMAGE });
        expect(await lxcExec(container, ['hostname'])).toBe(container);
        const machineId = await lxcExec(container, ['cat', '/etc/machine-id']);
        expect(machineId).toMatch(/^[0-9a-f]{32}$/);
        const hostKey = await lxcExec(container, ['cat', '/etc/ssh/ssh_host_ed25519_key.pub']);
        identities.push({ machineId, hostKey: hostKey.split(' ')[1] });
      }
      expect(identities[0].machineId).not.toBe(identities[1].machineId);
      expect(identities[0].hostKey).not.toBe(identities[1].hostKey);
    }, 1800000);
  },
);
