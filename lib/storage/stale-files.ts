import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Leftovers of killed runs: the hidden `.partial`/`.tmp` files a store writes before
 * renaming them into place, and the private folders that hold registry logins. Each name
 * carries the process id of its writer. A leftover is stale, and may be removed, when it
 * was last changed more than `olderThanMs` ago and its writer is no longer running on this
 * host. Both are needed: a live build's files are never taken (its process runs), and a
 * folder shared between hosts, where a process id means nothing, only loses files no
 * build has touched for that long.
 */
export const STALE_AFTER_MS = 60 * 60 * 1000;

/** True while a process with this id runs here (EPERM: it runs, as another user). */
export function processRuns(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface SweepOptions {
  /** Picks the leftovers among the folder's names: the writer's pid, or undefined to skip a name. */
  writerOf: (name: string) => number | undefined;
  olderThanMs?: number;
  now?: number;
}

/**
 * Removes the stale leftovers of `dir` (files or folders) and returns their names. Best
 * effort: a folder that cannot be read, or an entry that cannot be removed, is left alone.
 */
export async function sweepStale(dir: string, options: SweepOptions): Promise<string[]> {
  const bound = (options.now ?? Date.now()) - (options.olderThanMs ?? STALE_AFTER_MS);
  const names = await readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    const pid = options.writerOf(name);
    if (pid === undefined || processRuns(pid)) continue;
    const path = join(dir, name);
    const info = await lstat(path).catch(() => undefined);
    if (!info || info.mtimeMs > bound) continue;
    try {
      await rm(path, { recursive: true, force: true });
      removed.push(name);
    } catch {
      /* left for a later sweep */
    }
  }
  return removed;
}
