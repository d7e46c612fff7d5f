import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import lockfile from 'proper-lockfile';
import { BuildError } from '../../core/errors';

/** How a lock is kept: taken over when its mtime is `staleMs` old, refreshed every `updateMs`. */
export interface LockTiming {
  staleMs: number;
  updateMs: number;
}

export const DEFAULT_LOCK_TIMING: LockTiming = { staleMs: 20000, updateMs: 5000 };

/** What the body of withFileLock() holds: it asks before each write whether the lock is still its own. */
export interface LockHold {
  /** Throws (one line) when the lock was lost: another process took it over. */
  assertHeld(): void;
}

/**
 * Runs `body` holding an exclusive lock on `path` (proper-lockfile: `<path>.lock`, which
 * may not exist yet). A lock left by a dead process goes stale after 20 s and is taken
 * over, so a killed build blocks nobody for long.
 *
 * A lock can also be lost while held (compromised): its holder stalled past the stale time
 * and another process took it over, or someone removed it. proper-lockfile reports that
 * from a timer, where a throw would end the process with a stack trace and no cleanup; here
 * it is only recorded, and the body checks `hold.assertHeld()` right before each write: a
 * lost lock then fails the write with one line, and the caller rolls back as after any
 * other failure.
 */
export async function withFileLock<T>(
  path: string,
  body: (hold: LockHold) => Promise<T>,
  timing: LockTiming = DEFAULT_LOCK_TIMING,
): Promise<T> {
  await mkdir(dirname(path), { recursive: true });
  let lost: Error | undefined;
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(path, {
      realpath: false,
      stale: timing.staleMs,
      update: timing.updateMs,
      retries: { retries: 200, factor: 1.2, minTimeout: 25, maxTimeout: 1000, randomize: true },
      onCompromised: (error) => {
        lost = error;
      },
    });
  } catch (error) {
    throw new BuildError(`cannot lock ${path}: ${(error as Error).message}`);
  }
  const hold: LockHold = {
    assertHeld() {
      if (lost) throw new BuildError(`the lock ${path}.lock was lost while held (taken over or removed by another process); nothing more was written`);
    },
  };
  try {
    return await body(hold);
  } finally {
    // A lost lock is no longer ours to remove (release would fail: ERELEASED).
    if (!lost) await release().catch(() => undefined);
  }
}

/** Replaces a file atomically: a hidden temp file beside it, flushed, renamed over it. */
export async function replaceFileAtomically(path: string, body: string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(temp, body, { flush: true });
    await rename(temp, path);
  } catch (error) {
    throw new BuildError(`cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  } finally {
    await rm(temp, { force: true });
  }
}

/** The writer's process id of a temp file replaceFileAtomically() left behind, or undefined. */
export function writerOfTempFile(name: string): number | undefined {
  const match = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/.exec(name);
  return match ? Number(match[1]) : undefined;
}
