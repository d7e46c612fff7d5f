import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
      ['--name', name, '--distribution', 'bookworm', '--recipes-path', CATALOG, '--cache-dir', cache, '--local-storage',
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

  test('a cold build fills it, and the same recipe then hits it with the same packages', async () => {
    const cold = await build('tiny-a');
    expect(cold.cache).toBe('miss');
    expect(entries()).toHaveLength(1);
    expect(readdirSync(join(cache, 'debs')).filter((f) => f.endsWith('.deb')).length).toBeGreaterThan(50);
    const warm = await build('tiny-a');
    expect(warm.cache).toBe('hit');
    expect(warm.manifest).toBe(cold.manifest);
  }, 20 * 60 * 1000);

  test('a truncated entry is detected, not used, and rebuilt', async () => {
    const [tarball] = entries();
    const path = join(cache, 'rootfs', tarball);
    truncateSync(path, Math.floor(statSync(path).size / 2));
    const rebuilt = await build('tiny-a');
    expect(rebuilt.cache).toBe('damaged');
    expect(rebuilt.stderr).toMatch(/bootstrap cache entry \w+ not used: its tarball is missing or truncated; rebuilding it/);
    const record = JSON.parse(readFileSync(path.replace(/\.tar\.zst$/, '.json'), 'utf8'));
    expect(statSync(path).size).toBe(record.size);
    expect((await build('tiny-a')).cache).toBe('hit');
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
