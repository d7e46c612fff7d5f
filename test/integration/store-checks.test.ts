import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { expectOneLineFailure, REPO_ROOT, runCreateImage } from '../support/cli';

/**
 * create_image against a local store that cannot be used, or that already holds the
 * image's slot: the store's verify() runs before anything else, so each case ends in one
 * line and its exit code before any host tool, mirror or build is touched (no root needed,
 * nothing in the work dir, the store exactly as it was).
 */
const CATALOG = join(REPO_ROOT, 'test', 'fixtures', 'catalog-small');
const T = '20261126.101500';

interface StoreCase {
  name: string;
  damage: (store: string) => void;
  exit: 1 | 2;
  says: RegExp;
}

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

const otherEntry = (organization: string) =>
  JSON.stringify({ [T]: { raw: { 'tiny-a': { bookworm: { file: `${organization}_tiny-a_bookworm_hotdog_${T}`, checksum: '0'.repeat(32) } } } } });

const CASES: StoreCase[] = [
  { name: 'corrupt index', damage: (s) => write(join(s, 'hotdog/images/index.json'), '{"2026'), exit: 1, says: /hotdog\/images\/index\.json is not valid JSON$/ },
  { name: 'index that is not an object', damage: (s) => write(join(s, 'hotdog/images/index.json'), '"an index"\n'), exit: 1, says: /index\.json is not a tailor image index \(expected an object keyed by timestamp\)$/ },
  { name: 'dangling symlink as the release folder', damage: (s) => symlinkSync('/nonexistent/hotdog', join(s, 'hotdog')), exit: 1, says: /the release folder .*\/hotdog\/images is not writable \(hotdog is a dangling symlink \(to \/nonexistent\/hotdog\)\)$/ },
  { name: 'dangling symlink as the index', damage: (s) => { mkdirSync(join(s, 'hotdog/images'), { recursive: true }); symlinkSync('/nonexistent/index.json', join(s, 'hotdog/images/index.json')); }, exit: 1, says: /index\.json is a dangling symlink \(to \/nonexistent\/index\.json\)$/ },
  { name: 'symlink loop', damage: (s) => { symlinkSync(join(s, 'b'), join(s, 'hotdog')); symlinkSync(join(s, 'hotdog'), join(s, 'b')); }, exit: 1, says: /is not writable \(hotdog is a symlink loop\)$/ },
  { name: 'file where the images folder goes', damage: (s) => write(join(s, 'hotdog/images'), 'x\n'), exit: 1, says: /the release folder .*\/hotdog\/images is not writable \(images is not a directory\)$/ },
  { name: 'unreadable index of another label', damage: (s) => write(join(s, 'iceberg/images/index.json'), '[]'), exit: 1, says: /iceberg\/images\/index\.json is not a tailor image index/ },
  { name: 'slot taken by another organization', damage: (s) => write(join(s, 'hotdog/images/index.json'), otherEntry('other')), exit: 2, says: new RegExp(`already holds other_tiny-a_bookworm_hotdog_${T} where acme_tiny-a_bookworm_hotdog_${T} goes \\(${T} raw/tiny-a/bookworm\\); pick another --timestamp$`) },
  { name: 'image already stored', damage: (s) => write(join(s, 'hotdog/images/index.json'), otherEntry('acme')), exit: 2, says: new RegExp(`already names acme_tiny-a_bookworm_hotdog_${T} \\(pick another --timestamp\\)$`) },
];

/** Every entry below `dir` with its type, link target and size: what "unchanged" compares. */
function snapshot(dir: string): string {
  return execFileSync('find', ['.', '-printf', '%P\t%y\t%l\t%s\n'], { cwd: dir }).toString().split('\n').sort().join('\n');
}

describe('create_image refuses a store it cannot use, before any work', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'store-checks-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test.each(CASES.map((c) => [c.name, c] as const))('%s', async (_, storeCase) => {
    const store = join(root, storeCase.name.replace(/\W+/g, '-'));
    const work = join(root, `${storeCase.name.replace(/\W+/g, '-')}-work`);
    mkdirSync(store);
    storeCase.damage(store);
    const before = snapshot(store);
    const result = await runCreateImage(
      ['--name', 'tiny-a', '--distribution', 'bookworm', '--recipes-path', CATALOG, '--local-storage', '--local-storage-path', store, '--timestamp', T],
      { env: { TAILOR_IMAGE_WORK_DIR: work }, timeoutMs: 60000 },
    );
    expectOneLineFailure(result, storeCase.says, storeCase.exit);
    // Nothing built, nothing written.
    expect(snapshot(store)).toBe(before);
    if (existsSync(work)) expect(readdirSync(work)).toEqual([]);
  }, 70000);
});
