import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildError, UsageError } from '../../lib/core/errors';
import { mainArtifact } from '../../lib/core/image';
import { silentLog } from '../../lib/core/log';
import { listEntries } from '../../lib/storage/indexes/tailor-index';
import { BuildOnlyStore } from '../../lib/storage/local/build-only-store';
import { readLocalIndex } from '../../lib/storage/local/local-index';
import { LocalStore } from '../../lib/storage/local/local-store';
import { ImageStore } from '../../lib/storage/store';
import { collectingLog, failure } from '../support/outcomes';
import { plannedOf, syntheticImage } from '../support/synthetic-image';

// The module object itself (an `import *` namespace is a frozen copy), so a spy reaches the store's calls.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fsPromises = require('node:fs/promises') as typeof import('node:fs/promises');

const T = '20261126.101500';

function md5(path: string): string {
  return createHash('md5').update(readFileSync(path)).digest('hex');
}

describe('local stores', () => {
  let work: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'local-store-'));
  });
  afterEach(() => {
    jest.restoreAllMocks();
    rmSync(work, { recursive: true, force: true });
  });

  const image = (spec: { organization?: string; name?: string; releaseLabel?: string; timestamp?: string; dir?: string } = {}) =>
    syntheticImage({ dir: join(work, spec.dir ?? 'built'), organization: spec.organization, name: spec.name ?? 'webapp', distribution: 'bookworm', releaseLabel: spec.releaseLabel ?? 'hotdog', timestamp: spec.timestamp ?? T, size: 3000 });

  describe('verify() finds a store that cannot be used, before any work: one line, BuildError (exit 1)', () => {
    const cases: [string, (root: string) => void, RegExp][] = [
      ['a corrupt index', (root) => write(join(root, 'hotdog', 'images', 'index.json'), '{ "20260101.000000": '), /hotdog\/images\/index\.json is not valid JSON$/],
      ['an index that is not an object', (root) => write(join(root, 'hotdog', 'images', 'index.json'), '[1, 2]\n'), /index\.json is not a tailor image index \(expected an object keyed by timestamp\)$/],
      ['an index whose entries are not objects', (root) => write(join(root, 'hotdog', 'images', 'index.json'), '{ "20260101.000000": { "raw": { "webapp": { "bookworm": 3 } } } }'), /is not a tailor image index \(20260101\.000000 \/ raw \/ webapp \/ bookworm is not an object\)$/],
      ['a dangling symlink as the release folder', (root) => symlinkSync(join(root, 'gone'), join(root, 'hotdog')), /the release folder .*\/hotdog\/images is not writable \(hotdog is a dangling symlink \(to .*\/gone\)\)$/],
      ['a dangling symlink as the index', (root) => { mkdirSync(join(root, 'hotdog', 'images'), { recursive: true }); symlinkSync('/nonexistent/index.json', join(root, 'hotdog', 'images', 'index.json')); }, /index\.json is a dangling symlink \(to \/nonexistent\/index\.json\)$/],
      ['a dangling symlink as the store', (root) => { rmSync(root, { recursive: true }); symlinkSync(`${root}-gone`, root); }, /the local storage path .* is not writable \(.* is a dangling symlink/],
      ['a symlink loop', (root) => { symlinkSync(join(root, 'loop-b'), join(root, 'hotdog')); symlinkSync(join(root, 'hotdog'), join(root, 'loop-b')); }, /is not writable \(hotdog is a symlink loop\)$/],
      ['a file where the release folder goes', (root) => write(join(root, 'hotdog'), 'not a folder\n'), /the release folder .*\/hotdog\/images is not writable \(hotdog is not a directory\)$/],
      ['a corrupt index of another release label', (root) => write(join(root, 'iceberg', 'images', 'index.json'), 'not json'), /iceberg\/images\/index\.json is not valid JSON$/],
      ['a dangling symlink among the other labels', (root) => symlinkSync(join(root, 'nowhere'), join(root, 'iceberg')), /iceberg is a dangling symlink/],
      ['a folder named index.json in another label', (root) => mkdirSync(join(root, 'iceberg', 'images', 'index.json'), { recursive: true }), /cannot read .*iceberg\/images\/index\.json \(it is a directory\)$/],
    ];
    test.each(cases)('%s', async (_, damage, says) => {
      const root = join(work, 'store');
      mkdirSync(root);
      damage(root);
      const built = await image();
      const error = await failure(new LocalStore(root, [plannedOf(built)]).verify());
      expect(error).toBeInstanceOf(BuildError);
      expect(error).not.toBeInstanceOf(UsageError);
      expect(error.message).toMatch(says);
      expect(error.message).not.toContain('\n');
    });

    test('build-only: a dangling symlink or a loop in the output folder is found too', async () => {
      const built = await image();
      symlinkSync(join(work, 'gone'), join(work, 'out'));
      expect((await failure(new BuildOnlyStore(join(work, 'out'), [plannedOf(built)]).verify())).message).toMatch(/the output folder .*\/out is not writable \(out is a dangling symlink/);
      symlinkSync(join(work, 'loop'), join(work, 'loop'));
      expect((await failure(new BuildOnlyStore(join(work, 'loop', 'images'), [plannedOf(built)]).verify())).message).toMatch(/is not writable \(loop is a symlink loop\)$/);
    });

    function write(path: string, text: string): void {
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, text);
    }
  });

  describe('index slots', () => {
    test('verify() refuses an image already indexed, and one whose slot holds another organization\'s image: UsageError', async () => {
      const root = join(work, 'store');
      const first = await image({ organization: 'acme' });
      await new LocalStore(root).put(first, silentLog);
      const again = await failure(new LocalStore(root, [plannedOf(first)]).verify());
      expect(again).toBeInstanceOf(UsageError);
      expect(again.message).toMatch(/index\.json already names acme_webapp_bookworm_hotdog_20261126\.101500 \(pick another --timestamp\)$/);
      const other = await image({ organization: 'other', dir: 'other' });
      const taken = await failure(new LocalStore(root, [plannedOf(other)]).verify());
      expect(taken).toBeInstanceOf(UsageError);
      expect(taken.message).toMatch(
        /index\.json already holds acme_webapp_bookworm_hotdog_20261126\.101500 where other_webapp_bookworm_hotdog_20261126\.101500 goes \(20261126\.101500 raw\/webapp\/bookworm\); pick another --timestamp$/,
      );
    });

    test('a slot taken after verify(): put() fails with one line, the index keeps the first image, nothing of the second is left', async () => {
      const root = join(work, 'store');
      const first = await image({ organization: 'acme' });
      const second = await image({ organization: 'other', dir: 'other' });
      const late = new LocalStore(root, [plannedOf(second)]);
      await late.verify();
      await new LocalStore(root).put(first, silentLog);
      const error = await failure(late.put(second, silentLog));
      expect(error.message).toMatch(/already holds acme_webapp_bookworm_hotdog_20261126\.101500 where other_webapp/);
      const imagesDir = join(root, 'hotdog', 'images');
      expect(listEntries(readLocalIndex(imagesDir)).map((e) => e.entry.file)).toEqual([first.imageName]);
      expect(readdirSync(imagesDir).filter((f) => f.startsWith('other_') || f.startsWith('.'))).toEqual([]);
    });

    test('two organizations racing for one slot, 10 times: exactly one is stored, the other leaves nothing', async () => {
      for (let round = 0; round < 10; round += 1) {
        const root = join(work, `race-${round}`);
        const a = await image({ organization: 'acme', dir: `a${round}` });
        const b = await image({ organization: 'other', dir: `b${round}` });
        const results = await Promise.allSettled([new LocalStore(root).put(a, silentLog), new LocalStore(root).put(b, silentLog)]);
        const won = results.findIndex((r) => r.status === 'fulfilled');
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        const winner = [a, b][won];
        const loser = [a, b][1 - won];
        const imagesDir = join(root, 'hotdog', 'images');
        expect(listEntries(readLocalIndex(imagesDir)).map((e) => e.entry.file)).toEqual([winner.imageName]);
        expect(readdirSync(imagesDir).filter((f) => f.startsWith(loser.imageName) || f.startsWith('.'))).toEqual([]);
      }
    });
  });

  describe('placing files never replaces one', () => {
    const stores: [string, (root: string) => ImageStore, (root: string) => string][] = [
      ['build-only', (root) => new BuildOnlyStore(root), (root) => root],
      ['local', (root) => new LocalStore(root), (root) => join(root, 'hotdog', 'images')],
    ];
    test.each(stores)('%s: two builds of one image name at once, 15 times: one wins whole, the other fails with one line', async (_, makeStore, dirOf) => {
      for (let round = 0; round < 15; round += 1) {
        const root = join(work, `same-${round}`);
        const a = await image({ dir: `a${round}` });
        const b = await image({ dir: `b${round}` });
        expect(a.imageName).toBe(b.imageName);
        const results = await Promise.allSettled([makeStore(root).put(a, silentLog), makeStore(root).put(b, silentLog)]);
        const ok = results.filter((r) => r.status === 'fulfilled');
        expect(ok).toHaveLength(1);
        const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')!;
        expect(rejected.reason).toBeInstanceOf(BuildError);
        expect(rejected.reason.message).toMatch(/refusing to replace it$/);
        const winner = results[0].status === 'fulfilled' ? a : b;
        const dir = dirOf(root);
        const file = mainArtifact(winner).fileName;
        // Every file is the winner's: the image, its checksum files and its manifest.
        expect(md5(join(dir, file))).toBe(mainArtifact(winner).md5);
        expect(readFileSync(join(dir, `${winner.imageName}.md5`), 'utf8')).toBe(`${mainArtifact(winner).md5}  ${file}\n`);
        expect(readFileSync(join(dir, `${winner.imageName}.manifest`), 'utf8')).toBe(readFileSync(winner.manifestPath, 'utf8'));
        expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
      }
    });

    test('a file another program put under the name is kept, and the build fails with one line', async () => {
      const root = join(work, 'out');
      const built = await image();
      mkdirSync(root);
      writeFileSync(join(root, `${built.imageName}.md5`), 'someone else\n');
      // build-only: the image file is not there, so this is a leftover: it goes.
      await new BuildOnlyStore(root).put(built, silentLog);
      expect(readFileSync(join(root, `${built.imageName}.md5`), 'utf8')).toContain(mainArtifact(built).md5);
      const again = await image({ dir: 'again' });
      expect((await failure(new BuildOnlyStore(root).put(again, silentLog))).message).toMatch(/\.tar\.gz already exists; refusing to replace it$/);
      expect(md5(join(root, mainArtifact(built).fileName))).toBe(mainArtifact(built).md5);
    });
  });

  describe('a rerun is never wedged by what an earlier run left', () => {
    test('files of an image the index does not name (a killed build) are replaced, with a warning', async () => {
      const root = join(work, 'store');
      const imagesDir = join(root, 'hotdog', 'images');
      const built = await image();
      mkdirSync(imagesDir, { recursive: true });
      writeFileSync(join(imagesDir, mainArtifact(built).fileName), 'half an image');
      writeFileSync(join(imagesDir, `${built.imageName}.md5`), 'stale\n');
      const store = new LocalStore(root, [plannedOf(built)]);
      await store.verify();
      const log = collectingLog();
      await store.put(built, log);
      expect(md5(join(imagesDir, mainArtifact(built).fileName))).toBe(mainArtifact(built).md5);
      expect(log.warnings).toEqual([
        expect.stringMatching(/^removing .*\.md5, left by an unfinished earlier build of acme_webapp/),
        expect.stringMatching(/^removing .*\.tar\.gz, left by an unfinished earlier build of acme_webapp/),
      ]);
    });

    test('another label\'s broken index: the image is stored and indexed, the streams are a warning naming the file, and later builds are not wedged', async () => {
      const root = join(work, 'store');
      await new LocalStore(root).put(await image({ releaseLabel: 'iceberg', dir: 'ice' }), silentLog);
      const broken = join(root, 'iceberg', 'images', 'index.json');
      const good = readFileSync(broken, 'utf8');
      writeFileSync(broken, '{ broken');
      for (const timestamp of ['20261126.111500', '20261126.121500']) {
        const built = await image({ timestamp, dir: timestamp });
        const log = collectingLog();
        const stored = await new LocalStore(root).put(built, log);
        expect(stored.index).toBe(join(root, 'hotdog', 'images', 'index.json'));
        expect(log.warnings).toEqual([`simplestreams files in ${join(root, 'streams', 'v1')} not updated: cannot build the simplestreams index of ${root}: ${broken} is not valid JSON`]);
        expect(listEntries(readLocalIndex(join(root, 'hotdog', 'images'))).map((e) => e.entry.file)).toContain(built.imageName);
      }
      // Repaired, the next build's streams name every image again.
      writeFileSync(broken, good);
      const log = collectingLog();
      await new LocalStore(root).put(await image({ timestamp: '20261126.131500', dir: 'last' }), log);
      expect(log.warnings).toEqual([]);
      const streams = readFileSync(join(root, 'streams', 'v1', 'images.json'), 'utf8');
      for (const timestamp of ['20261126.101500', '20261126.111500', '20261126.121500', '20261126.131500']) expect(streams).toContain(timestamp);
    });

    test('a failed index write removes the files it placed: nothing half-stored is left', async () => {
      const root = join(work, 'store');
      const built = await image();
      const rename = fsPromises.rename;
      jest.spyOn(fsPromises, 'rename').mockImplementation(async (from, to) => {
        if (String(to).endsWith('index.json')) throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
        return rename(from, to);
      });
      const error = await failure(new LocalStore(root).put(built, silentLog));
      expect(error.message).toMatch(/cannot write .*\/hotdog\/images\/index\.json: EIO$/);
      expect(readdirSync(join(root, 'hotdog', 'images'))).toEqual([]);
    });
  });

  describe('stale temporary files are swept, never a live build\'s', () => {
    test('.partial and .tmp files: old ones of a finished process go, a running process\'s or a recent one stay', async () => {
      const root = join(work, 'store');
      const imagesDir = join(root, 'hotdog', 'images');
      mkdirSync(imagesDir, { recursive: true });
      const dead = 2 ** 22 + 12345; // above the default pid_max: no such process
      const old = Date.now() / 1000 - 2 * 3600;
      const files = {
        deadOld: `.acme_webapp_bookworm_hotdog_20260101.000000.tar.gz.${dead}.0a1b2c3d.partial`,
        deadOldTmp: `.index.json.${dead}.0a1b2c3d.tmp`,
        deadRecent: `.acme_webapp_bookworm_hotdog_20260101.000001.tar.gz.${dead}.0a1b2c3d.partial`,
        liveOld: `.acme_webapp_bookworm_hotdog_20260101.000002.tar.gz.${process.pid}.0a1b2c3d.partial`,
        notOurs: '.something-else.partial',
      };
      for (const [key, name] of Object.entries(files)) {
        writeFileSync(join(imagesDir, name), 'x');
        if (key !== 'deadRecent') utimesSync(join(imagesDir, name), old, old);
      }
      await new LocalStore(root).put(await image(), silentLog);
      const left = readdirSync(imagesDir).filter((f) => f.startsWith('.')).sort();
      expect(left).toEqual([files.deadRecent, files.liveOld, files.notOurs].sort());
    });
  });
});
