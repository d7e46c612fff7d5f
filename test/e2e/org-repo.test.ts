import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestAptRepo, TestAptRepo } from '../support/apt-repo';
import { REPO_ROOT, runCreateImage } from '../support/cli';
import { describeWith, rootUser, tool } from '../support/prereq';
import { filesContaining, installedPackages, namesMatching, unpack } from '../support/tree';

const CATALOG = join(REPO_ROOT, 'test', 'fixtures', 'catalog-small');

describeWith(
  'the org bundle from a signed repository behind basic auth',
  [rootUser(), tool('mmdebstrap'), tool('pigz'), tool('apt-ftparchive', 'apt-utils'), tool('dpkg-deb', 'dpkg'), tool('gpg', 'gnupg')],
  () => {
    let repo: TestAptRepo;
    const store = mkdtempSync(join(tmpdir(), 'org-store-'));
    const unpacked: string[] = [];

    beforeAll(async () => {
      repo = await startTestAptRepo({
        releaseLabel: 'hotdog',
        distribution: 'bookworm',
        packages: [
          { name: 'acme-webapp-data', version: '1.0.0', files: { '/opt/acme/hotdog/webapp/data.txt': 'data\n' } },
          {
            name: 'acme-webapp-hotdog',
            version: '2.3.4',
            depends: ['acme-webapp-data (>= 1.0)'],
            files: { '/opt/acme/hotdog/webapp/setup.bash': 'export ACME_BUNDLE=webapp\n' },
          },
        ],
      });
    }, 60000);

    afterAll(async () => {
      await repo?.stop();
      for (const dir of [store, ...unpacked]) rmSync(dir, { recursive: true, force: true });
    });

    async function build(name: string, timestamp: string) {
      const result = await runCreateImage(
        ['--name', name, '--distribution', 'bookworm', '--recipes-path', CATALOG, '--apt-repo', repo.urlWithCredentials,
          '--apt-repo-key', repo.keyFile, '--local-storage', '--local-storage-path', store, '--timestamp', timestamp],
        { timeoutMs: 10 * 60 * 1000 },
      );
      expect(result.stderr).not.toMatch(/error:/);
      expect(result.code).toBe(0);
      const tarball = join(store, 'hotdog', 'images', `acme_${name}_bookworm_hotdog_${timestamp}.tar.gz`);
      const dir = unpack(tarball);
      unpacked.push(dir);
      return { result, rootfs: join(dir, 'rootfs') };
    }

    test('the bundle and its dependency are installed, and no trace of the repository is left', async () => {
      const { result, rootfs } = await build('webapp', '20261126.110000');
      const installed = installedPackages(rootfs);
      expect(installed.get('acme-webapp-hotdog')).toBe('2.3.4');
      expect(installed.get('acme-webapp-data')).toBe('1.0.0');
      expect(readFileSync(join(rootfs, 'opt/acme/hotdog/webapp/setup.bash'), 'utf8')).toContain('ACME_BUNDLE');
      expect(repo.requests).toEqual(expect.arrayContaining(['/hotdog/ubuntu/dists/bookworm/InRelease']));

      const port = new URL(repo.url).port;
      expect(filesContaining(rootfs, `127.0.0.1:${port}`)).toEqual([]);
      expect(filesContaining(rootfs, repo.password)).toEqual([]);
      expect(namesMatching(rootfs, /tailor-org|127\.0\.0\.1/)).toEqual([]);
      // Nor in what the build printed.
      expect(result.stdout + result.stderr).not.toContain(repo.password);
    }, 11 * 60 * 1000);

    test('a recipe that keeps the source keeps it (and its key), but never the credentials', async () => {
      const { rootfs } = await build('keeper', '20261126.110500');
      expect(installedPackages(rootfs).get('acme-webapp-hotdog')).toBe('2.3.4');
      const source = readFileSync(join(rootfs, 'etc/apt/sources.list.d/tailor-org.sources'), 'utf8');
      expect(source).toContain(`URIs: ${repo.url}/hotdog/ubuntu`);
      expect(source).toContain('Signed-By: /etc/apt/keyrings/tailor-org.asc');
      expect(existsSync(join(rootfs, 'etc/apt/keyrings/tailor-org.asc'))).toBe(true);
      expect(filesContaining(rootfs, repo.password)).toEqual([]);
      expect(existsSync(join(rootfs, 'etc/apt/auth.conf.d/90tailor-org.conf'))).toBe(false);
    }, 11 * 60 * 1000);
  },
);
