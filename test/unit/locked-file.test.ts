import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildError } from '../../lib/core/errors';
import { withLocalIndex } from '../../lib/storage/local/local-index';
import { withFileLock } from '../../lib/storage/local/locked-file';

/** The shortest times proper-lockfile allows: a lost lock is noticed within about a second. */
const FAST = { staleMs: 2000, updateMs: 1000 };
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a lock lost while held (compromised)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lock-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('is no exception from a timer: the body goes on, and its next write fails with one line, writing nothing', async () => {
    const index = join(dir, 'index.json');
    writeFileSync(index, '{}\n');
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      const result = withLocalIndex(
        dir,
        async ({ write }) => {
          // Someone removes the lock (as a process that found it stale would take it over).
          await rm(`${index}.lock`, { recursive: true });
          await pause(2500);
          await write({ '20261126.101500': { raw: { webapp: { bookworm: { file: 'x', checksum: '0'.repeat(32) } } } } });
        },
        FAST,
      );
      const error = await result.then(() => undefined, (e: unknown) => e as Error);
      expect(error).toBeInstanceOf(BuildError);
      expect(error!.message).toBe(`the lock ${index}.lock was lost while held (taken over or removed by another process); nothing more was written`);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(uncaught).toEqual([]);
    expect(readFileSync(index, 'utf8')).toBe('{}\n');
  }, 10000);

  test('a body that does not write after losing the lock still ends normally, and the next lock works', async () => {
    const path = join(dir, 'thing');
    await expect(
      withFileLock(
        path,
        async () => {
          await rm(`${path}.lock`, { recursive: true });
          await pause(2500);
          return 'done';
        },
        FAST,
      ),
    ).resolves.toBe('done');
    await expect(withFileLock(path, async (hold) => (hold.assertHeld(), 'again'), FAST)).resolves.toBe('again');
  }, 10000);
});
