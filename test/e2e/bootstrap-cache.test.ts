import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { treeShape } from '../../lib/builder/bootstrap-cache';
import { REPO_ROOT, runCreateImage } from '../support/cli';
import { describeWith, rootUser, tool } from '../support/prereq';

const CATALOG = join(REPO_ROOT, 'test', 'fixtures', 'catalog-small');

describeWith('the bootstrap cache', [rootUser(), tool('mmdebstrap'), tool('zstd')], () => {
  const cache = mkdtempSync(join(tmpdir(), 'cache-'));
  const store = mkdtempSync(join(tmpdir(), 'cache-store-'));
  let stamp = 0;
  afterAll(() => {
    rmSync(cache, { recursive: true, force: true });
    rmSync(store, { recursive: true, force: true });
  });

  async function build(name: string, extra: string[] = []) {
    const timestamp = `20261126.13${String(stamp++).padStart(2, '0')}00`;
    const result = await runCreateImage(
      ['--name', name, '--distribution', 'bookworm', '--recipes-path', CATALOG, '--cache-dir', cache, '--local-storage', '--no-test',
        '--local-storage-path', store, '--timestamp', timestamp, '--json', ...extra],
      { timeoutMs: 10 * 60 * 1000 },
    );
    expect(result.stderr).not.toMatch(/error:/);
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout);
    const manifest = readFileSync(join(store, 'hotdog', 'images', `acme_${name}_bookworm_hotdog_${timestamp}.manifest`), 'utf8');
    return { cache: summary.cache as string, stderr: result.stderr, manifest };
  }

  const entries = () => readdirSync(join(cache, 'rootfs')).filter((f) => f.endsWith('.tar.zst'));
  const recordOf = (tarball: string) => JSON.parse(readFileSync(join(cache, 'rootfs', tarball.replace(/\.tar\.zst$/, '.json')), 'utf8'));
  const treeOf = (tarball: string) => join(cache, 'rootfs', tarball.replace(/\.tar\.zst$/, '.tree'));

  test('a cold build fills it, and the same recipe then hits it with the same packages', async () => {
    const cold = await build('tiny-a');
    expect(cold.cache).toBe('miss');
    expect(entries()).toHaveLength(1);
    expect(readdirSync(join(cache, 'debs')).filter((f) => f.endsWith('.deb')).length).toBeGreaterThan(50);
    const warm = await build('tiny-a');
    expect(warm.cache).toBe('hit');
    expect(warm.manifest).toBe(cold.manifest);
    // The hit built on the unpacked entry through an overlay: the entry itself is untouched.
    const [tarball] = entries();
    expect(treeShape(treeOf(tarball))).toEqual(recordOf(tarball).tree);
    expect(existsSync(join(treeOf(tarball), 'etc', 'tailor-image', 'build.json'))).toBe(false);
  }, 20 * 60 * 1000);

  test('an unpacked entry that lost a file is unpacked again from the verified tarball', async () => {
    const [tarball] = entries();
    const osRelease = join(treeOf(tarball), 'usr', 'lib', 'os-release');
    rmSync(osRelease);
    const warm = await build('tiny-a');
    expect(warm.cache).toBe('hit');
    expect(warm.stderr).toMatch(/its unpacked tree differs from the record; unpacking it again/);
    expect(existsSync(osRelease)).toBe(true);
    expect(treeShape(treeOf(tarball))).toEqual(recordOf(tarball).tree);
  }, 20 * 60 * 1000);

  test('a truncated entry is detected, not used, and rebuilt', async () => {
    const [tarball] = entries();
    const path = join(cache, 'rootfs', tarball);
    truncateSync(path, Math.floor(statSync(path).size / 2));
    const rebuilt = await build('tiny-a');
    expect(rebuilt.cache).toBe('damaged');
    expect(rebuilt.stderr).toMatch(/bootstrap cache entry \w+ not used: its tarball is missing or truncated; rebuilding it/);
    expect(statSync(path).size).toBe(recordOf(tarball).size);
    expect(treeShape(treeOf(tarball))).toEqual(recordOf(tarball).tree);
    expect((await build('tiny-a')).cache).toBe('hit');
  }, 20 * 60 * 1000);

  test('an entry discarded while another build stands on it stays whole for that build', async () => {
    const [tarball] = entries();
    const tree = treeOf(tarball);
    // Another build's overlay on the entry, as bootstrap mounts it.
    const other = mkdtempSync(join(tmpdir(), 'cache-other-build-'));
    for (const dir of ['upper', 'work', 'rootfs']) mkdirSync(join(other, dir));
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${tree},upperdir=${other}/upper,workdir=${other}/work`, join(other, 'rootfs')]);
    try {
      truncateSync(join(cache, 'rootfs', tarball), 1000);
      const rebuilt = await build('tiny-a');
      expect(rebuilt.cache).toBe('damaged');
      expect(readFileSync(join(other, 'rootfs', 'usr', 'lib', 'os-release'), 'utf8')).toMatch(/bookworm/);
    } finally {
      execFileSync('umount', [join(other, 'rootfs')]);
      rmSync(other, { recursive: true, force: true });
    }
    expect((await build('tiny-a')).cache).toBe('hit');
    expect(treeShape(tree)).toEqual(recordOf(tarball).tree);
    expect(readdirSync(join(cache, 'rootfs')).filter((name) => /\.(tmp|old)$/.test(name))).toEqual([]);
  }, 20 * 60 * 1000);

  test('where no overlay can be mounted (a work dir on overlayfs, as in a container), a hit builds on a copy', async () => {
    const container = mkdtempSync(join(tmpdir(), 'cache-container-'));
    for (const dir of ['lower', 'upper', 'work', 'root']) mkdirSync(join(container, dir));
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${container}/lower,upperdir=${container}/upper,workdir=${container}/work`, join(container, 'root')]);
    try {
      const reference = await build('tiny-a');
      const copied = await build('tiny-a', ['--work-dir', join(container, 'root', 'builds')]);
      expect(copied.cache).toBe('hit');
      expect(copied.stderr).toMatch(/no overlay could be mounted .*; copying the base tree instead/);
      expect(copied.manifest).toBe(reference.manifest);
    } finally {
      execFileSync('umount', [join(container, 'root')]);
      rmSync(container, { recursive: true, force: true });
    }
  }, 20 * 60 * 1000);

  test('a changed package list or mirror misses it', async () => {
    expect((await build('tiny-c')).cache).toBe('miss');
    expect((await build('tiny-a', ['--security-mirror', 'none'])).cache).toBe('miss');
    expect(entries()).toHaveLength(3);
  }, 20 * 60 * 1000);

  test('--no-cache neither reads nor writes it', async () => {
    const before = entries();
    expect((await build('tiny-a', ['--no-cache'])).cache).toBe('off');
    expect(entries()).toEqual(before);
  }, 20 * 60 * 1000);
});

describeWith('several images in one run', [rootUser(), tool('mmdebstrap'), tool('zstd')], () => {
  const cache = mkdtempSync(join(tmpdir(), 'cache-multi-'));
  const store = mkdtempSync(join(tmpdir(), 'cache-multi-store-'));
  afterAll(() => {
    rmSync(cache, { recursive: true, force: true });
    rmSync(store, { recursive: true, force: true });
  });

  const manifest = (name: string, timestamp: string) =>
    readFileSync(join(store, 'hotdog', 'images', `acme_${name}_bookworm_hotdog_${timestamp}.manifest`), 'utf8');

  test('bootstrap once, and each image gets exactly the packages it would get alone', async () => {
    const common = ['--distribution', 'bookworm', '--recipes-path', CATALOG, '--cache-dir', cache, '--local-storage', '--no-test', '--local-storage-path', store];
    const together = await runCreateImage(
      ['--name', 'tiny-a', '--name', 'tiny-c', ...common, '--timestamp', '20261126.140000', '--json'],
      { timeoutMs: 10 * 60 * 1000 },
    );
    expect(together.stderr).not.toMatch(/error:/);
    expect(together.code).toBe(0);
    const summaries = JSON.parse(together.stdout) as { name: string; cache: string }[];
    expect(summaries.map((s) => s.name)).toEqual(['tiny-a', 'tiny-c']);
    expect(together.stderr).toMatch(/image 2 of 2: acme_tiny-c_bookworm_hotdog_20261126\.140000/);
    // One bootstrap: one cache entry, the base both share (tiny-c's `less` went on top).
    expect(readdirSync(join(cache, 'rootfs')).filter((f) => f.endsWith('.tar.zst'))).toHaveLength(1);
    expect(manifest('tiny-a', '20261126.140000')).not.toMatch(/^less\t/m);
    expect(manifest('tiny-c', '20261126.140000')).toMatch(/^less\t/m);

    // tiny-c alone, bootstrapped by mmdebstrap with every package: the same package set.
    const alone = await runCreateImage(['--name', 'tiny-c', ...common, '--no-cache', '--timestamp', '20261126.140100'], {
      timeoutMs: 10 * 60 * 1000,
    });
    expect(alone.code).toBe(0);
    expect(manifest('tiny-c', '20261126.140000')).toBe(manifest('tiny-c', '20261126.140100'));
  }, 20 * 60 * 1000);
});
