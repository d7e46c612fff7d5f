import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import lockfile from 'proper-lockfile';
import { BuildError } from '../../core/errors';

/**
 * Runs `body` holding an exclusive lock on `path` (proper-lockfile: `<path>.lock`, which
 * may not exist yet). A lock left by a dead process goes stale after 20 s and is taken
 * over, so a killed build blocks nobody for long.
 */
export async function withFileLock<T>(path: string, body: () => Promise<T>): Promise<T> {
  await mkdir(dirname(path), { recursive: true });
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(path, {
      realpath: false,
      stale: 20000,
      update: 5000,
      retries: { retries: 200, factor: 1.2, minTimeout: 25, maxTimeout: 1000, randomize: true },
    });
  } catch (error) {
    throw new BuildError(`cannot lock ${path}: ${(error as Error).message}`);
  }
  try {
    return await body();
  } finally {
    await release();
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
