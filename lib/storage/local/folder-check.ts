import { lstatSync, readlinkSync, statSync } from 'node:fs';
import { mkdtemp, rmdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { BuildError } from '../../core/errors';

/** The errno code of a failed file system call ("ENOENT"), or its message. */
export function errnoOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String((error as Error).message ?? error);
}

/** True when something (a file, a folder, a link even if it leads nowhere) has this name. */
export function entryExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * What is wrong with following `path` when it is a symlink: "a dangling symlink (to X)"
 * or "a symlink loop"; undefined when it is no link or leads somewhere.
 */
export function linkProblem(path: string): string | undefined {
  try {
    if (!lstatSync(path).isSymbolicLink()) return undefined;
  } catch {
    return undefined;
  }
  try {
    statSync(path);
    return undefined;
  } catch (error) {
    const code = errnoOf(error);
    if (code === 'ELOOP') return 'a symlink loop';
    if (code === 'ENOENT') return `a dangling symlink (to ${readlinkSync(path)})`;
    return `a symlink that cannot be followed (${code})`;
  }
}

/**
 * Checks that a store can write into `dir` without writing into it: the nearest entry of
 * the path that exists must be, or lead to, a directory (not a file, a dangling symlink or
 * a symlink loop: what would otherwise fail only after a whole build, with a raw ENOTDIR or
 * ELOOP), in which a probe directory can be made (and is removed at once). Whatever does not
 * exist yet below it is made when the first image is stored.
 */
export async function checkWritableFolder(dir: string, what: string): Promise<void> {
  const fail = (reason: string): never => {
    throw new BuildError(`${what} ${dir} is not writable (${reason})`);
  };
  let existing = resolve(dir);
  while (!entryExists(existing)) {
    const parent = dirname(existing);
    if (parent === existing) break;
    existing = parent;
  }
  const problem = linkProblem(existing);
  if (problem) fail(`${basename(existing)} is ${problem}`);
  try {
    if (!statSync(existing).isDirectory()) fail(`${basename(existing)} is not a directory`);
  } catch (error) {
    if (error instanceof BuildError) throw error;
    fail(errnoOf(error));
  }
  let probe = '';
  try {
    probe = await mkdtemp(join(existing, '.tailor-image-probe-'));
  } catch (error) {
    fail(errnoOf(error));
  }
  await rmdir(probe);
}
