import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, runCreateImage } from '../support/cli';
import { describeWith, rootUser, tool } from '../support/prereq';

const CATALOG = join(REPO_ROOT, 'test', 'fixtures', 'catalog-small');

describeWith('two builds into one local store at the same time', [rootUser(), tool('mmdebstrap'), tool('pigz')], () => {
  const store = mkdtempSync(join(tmpdir(), 'shared-store-'));
  afterAll(() => rmSync(store, { recursive: true, force: true }));

  test('both entries land in index.json under the same timestamp', async () => {
    const timestamp = '20261126.120000';
    const results = await Promise.all(
      ['tiny-a', 'tiny-b'].map((name) =>
        runCreateImage(
          ['--name', name, '--distribution', 'bookworm', '--recipes-path', CATALOG, '--local-storage', '--no-test',
            '--local-storage-path', store, '--timestamp', timestamp, '--quiet'],
          { timeoutMs: 10 * 60 * 1000 },
        ),
      ),
    );
    for (const result of results) {
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
    }
    const imagesDir = join(store, 'hotdog', 'images');
    const index = JSON.parse(readFileSync(join(imagesDir, 'index.json'), 'utf8'));
    expect(Object.keys(index[timestamp].raw).sort()).toEqual(['tiny-a', 'tiny-b']);
    for (const name of ['tiny-a', 'tiny-b']) {
      expect(index[timestamp].raw[name].bookworm.file).toBe(`acme_${name}_bookworm_hotdog_${timestamp}`);
    }
    // Nothing temporary is left behind: no partial files, no lock.
    expect(readdirSync(imagesDir).filter((f) => f.startsWith('.') || f.endsWith('.lock'))).toEqual([]);
  }, 11 * 60 * 1000);
});
