import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { silentLog } from '../../lib/core/log';
import { LocalStore } from '../../lib/storage/local/local-store';
import { listVersions } from '../../lib/storage/s3/s3-objects';
import { S3ImageStore } from '../../lib/storage/s3/s3-store';
import { listEntries, parseIndex } from '../../lib/storage/indexes/tailor-index';
import { runCommand } from '../support/cli';
import { describeWith } from '../support/prereq';
import { rgwPrerequisites, useRgw } from '../support/rgw';
import { indexedNames, problemsWithIndex, readIndex } from '../support/s3-inspect';
import { daysAgo } from '../support/outcomes';
import { syntheticImage } from '../support/synthetic-image';

const LABEL = 'hotdog';

interface Seed {
  organization?: string;
  name: string;
  distribution: string;
  days: number;
  buildType?: 'lxd' | 'bare_metal';
}

/** The release the cleanup tests start from, and what --num-to-keep 2 --days-to-keep 7 removes. */
const SEEDS: (Seed & { goes: boolean })[] = [
  // webapp/bookworm: the newest two are kept by count (and age); 10, 20, 30 days go.
  { name: 'webapp', distribution: 'bookworm', days: 1, goes: false },
  { name: 'webapp', distribution: 'bookworm', days: 5, goes: false },
  { name: 'webapp', distribution: 'bookworm', days: 10, goes: true },
  { name: 'webapp', distribution: 'bookworm', days: 20, goes: true },
  { name: 'webapp', distribution: 'bookworm', days: 30, goes: true },
  // only two of webapp/jammy: both kept by count, however old.
  { name: 'webapp', distribution: 'jammy', days: 3, goes: false },
  { name: 'webapp', distribution: 'jammy', days: 40, goes: false },
  // the same recipe as a bare-metal disk is its own group.
  { name: 'webapp', distribution: 'bookworm', days: 2, buildType: 'bare_metal', goes: false },
  { name: 'webapp', distribution: 'bookworm', days: 8, buildType: 'bare_metal', goes: false },
  { name: 'webapp', distribution: 'bookworm', days: 15, buildType: 'bare_metal', goes: true },
  // another organization's image in the same release is never touched.
  { organization: 'other', name: 'webapp', distribution: 'bookworm', days: 50, goes: false },
];

describeWith('cleanup_images (Ceph RGW on loopback, and a local store)', rgwPrerequisites, () => {
  const rgw = useRgw([{ name: 'cleanup-versioned', versioning: true }]);
  let work: string;
  let env: NodeJS.ProcessEnv;
  const names: { name: string; goes: boolean }[] = [];
  let withOldVersions = '';

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'tailor-cleanup-'));
    env = { ...rgw.server.env, NODE_NO_WARNINGS: '1', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };

    const s3Store = new S3ImageStore({ bucket: 'cleanup-versioned', client: rgw.s3 });
    const localStore = new LocalStore(join(work, 'local'));
    for (const seed of SEEDS) {
      const image = await syntheticImage({ dir: join(work, 'built'), ...seed, releaseLabel: LABEL, timestamp: daysAgo(seed.days), size: 2048 });
      await s3Store.put(image, silentLog);
      await localStore.put(image, silentLog);
      names.push({ name: image.imageName, goes: seed.goes });
    }
    // Older versions that must go with their image.
    const old = (withOldVersions = names.find((n) => n.goes)!.name);
    await rgw.s3.send(new PutObjectCommand({ Bucket: 'cleanup-versioned', Key: `${LABEL}/images/${old}.md5`, Body: 'an older version\n' }));
    await rgw.s3.send(new PutObjectCommand({ Bucket: 'cleanup-versioned', Key: `${LABEL}/images/${old}.manifest`, Body: 'an older manifest\n' }));
  }, 120000);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  }, 30000);

  const allVersions = async () =>
    (await listVersions(rgw.s3, 'cleanup-versioned', `${LABEL}/`)).map((v) => `${v.key}@${v.versionId}${v.deleteMarker ? '(marker)' : ''}`).sort();
  const cleanup = (args: string[]) =>
    runCommand('cleanup_images', ['--release-label', LABEL, '--organization', 'acme', ...args], { env });

  test('usage errors exit 2 with one line', async () => {
    for (const args of [[], ['--num-to-keep', '2'], ['--apt-repo', 's3://cleanup-versioned', '--local-storage-path', work, '--num-to-keep', '1'], ['--apt-repo', 's3://cleanup-versioned', '--num-to-keep', 'two'], ['--apt-repo', 'http://x', '--num-to-keep', '1']]) {
      const result = await cleanup(args);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/^cleanup_images: /);
    }
  }, 60000);

  test('S3, dry run: prints what would go and changes nothing', async () => {
    const before = await allVersions();
    const indexBefore = await readIndex(rgw.s3, 'cleanup-versioned', LABEL);
    const result = await cleanup(['--apt-repo', 's3://cleanup-versioned', '--num-to-keep', '2', '--days-to-keep', '7', '--dry-run']);
    expect(result.code).toBe(0);
    const expected = names.filter((n) => n.goes).map((n) => n.name);
    for (const name of expected) expect(result.stdout).toContain(`would remove ${name}`);
    expect(result.stdout).toContain(`${expected.length} of 10 image(s) would be removed`);
    expect(await allVersions()).toEqual(before);
    expect(await readIndex(rgw.s3, 'cleanup-versioned', LABEL)).toEqual(indexBefore);
  }, 60000);

  test('S3, versioned bucket: exactly the expected objects, every version, entry objects and index entries go', async () => {
    const before = await allVersions();
    const result = await cleanup(['--apt-repo', 's3://cleanup-versioned', '--num-to-keep', '2', '--days-to-keep', '7', '--json']);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    const report = JSON.parse(result.stdout);
    const gone = names.filter((n) => n.goes).map((n) => n.name).sort();
    const kept = names.filter((n) => !n.goes).map((n) => n.name).sort();
    expect(report.removed.map((r: { imageName: string }) => r.imageName).sort()).toEqual(gone);

    const after = await allVersions();
    const belongsTo = (v: string, name: string) => v.startsWith(`${LABEL}/images/${name}.`) || v.startsWith(`${LABEL}/images/entries/${name}.json@`);
    // Nothing of a removed image is left, in any version.
    expect(after.filter((v) => gone.some((name) => belongsTo(v, name)))).toEqual([]);
    // Everything else is exactly as it was, except the index, which got new versions, and
    // the tombstones: one for each removed image, so no writer ever indexes it again.
    const tombstone = (v: string) => v.startsWith(`${LABEL}/images/removed/`);
    const notIndex = (v: string) => !v.startsWith(`${LABEL}/images/index@`) && !tombstone(v);
    expect(after.filter(notIndex)).toEqual(before.filter(notIndex).filter((v) => !gone.some((name) => belongsTo(v, name))));
    expect(after.filter(tombstone).map((v) => v.replace(/^.*\/removed\/(.*)\.json@.*$/, '$1'))).toEqual(gone);
    // The older versions made in beforeAll were among those removed.
    expect(before.filter((v) => belongsTo(v, withOldVersions)).length).toBe(before.filter((v) => belongsTo(v, kept[0])).length + 2);

    const index = await readIndex(rgw.s3, 'cleanup-versioned', LABEL);
    expect(indexedNames(index)).toEqual(kept);
    expect(await problemsWithIndex(rgw.s3, 'cleanup-versioned', LABEL, index!)).toEqual([]);

    // Idempotent: a second run finds nothing more to remove.
    const again = await cleanup(['--apt-repo', 's3://cleanup-versioned', '--num-to-keep', '2', '--days-to-keep', '7']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('0 of 6 image(s) removed');
  }, 90000);

  test('local store: dry run changes nothing; then exactly the expected files and index entries go', async () => {
    const root = join(work, 'local');
    const imagesDir = join(root, LABEL, 'images');
    const filesBefore = (await readdir(imagesDir)).sort();
    const indexBefore = await readFile(join(imagesDir, 'index.json'), 'utf8');

    const dry = await cleanup(['--local-storage-path', root, '--num-to-keep', '2', '--days-to-keep', '7', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('(dry run: nothing changed)');
    expect((await readdir(imagesDir)).sort()).toEqual(filesBefore);
    expect(await readFile(join(imagesDir, 'index.json'), 'utf8')).toBe(indexBefore);

    const real = await cleanup(['--local-storage-path', root, '--num-to-keep', '2', '--days-to-keep', '7']);
    expect(real.code).toBe(0);
    const gone = names.filter((n) => n.goes).map((n) => n.name);
    const filesAfter = (await readdir(imagesDir)).sort();
    expect(filesAfter).toEqual(filesBefore.filter((f) => !gone.some((name) => f.startsWith(`${name}.`))));
    expect(filesBefore.length - filesAfter.length).toBe(gone.length * 4);
    const index = parseIndex(await readFile(join(imagesDir, 'index.json'), 'utf8'), 'index.json');
    expect(listEntries(index).map((e) => e.entry.file).sort()).toEqual(names.filter((n) => !n.goes).map((n) => n.name).sort());

    // The simplestreams listing the local store keeps no longer names them either.
    const streams = await readFile(join(root, 'streams', 'v1', 'images.json'), 'utf8');
    for (const name of gone) expect(streams).not.toContain(name);
    expect(streams).toContain(names.find((n) => !n.goes)!.name);

    const missing = await cleanup(['--local-storage-path', join(work, 'nowhere'), '--num-to-keep', '1']);
    expect(missing.code).toBe(2);
  }, 60000);
});
