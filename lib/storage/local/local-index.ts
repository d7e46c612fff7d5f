import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BuildError } from '../../core/errors';
import { errnoOf, linkProblem } from './folder-check';
import { LOCAL_INDEX_FILE } from './layout';
import { LockTiming, replaceFileAtomically, withFileLock } from './locked-file';
import { parseIndex, serializeIndex, TailorIndex } from '../indexes/tailor-index';

export { LOCAL_INDEX_FILE } from './layout';

/**
 * Reads `<imagesDir>/index.json`, or an empty index when there is none yet (nothing at all
 * has that name). Anything else that stops it being read (a dangling symlink, a symlink
 * loop, a folder, text that is not the tailor shape) is a BuildError naming the file.
 */
export function readLocalIndex(imagesDir: string): TailorIndex {
  const path = join(imagesDir, LOCAL_INDEX_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const problem = linkProblem(path);
    if (problem) throw new BuildError(`${path} is ${problem}`);
    const code = errnoOf(error);
    if (code === 'ENOENT') return {};
    throw new BuildError(`cannot read ${path} (${code === 'EISDIR' ? 'it is a directory' : code})`);
  }
  try {
    return parseIndex(text, path);
  } catch (error) {
    throw new BuildError((error as Error).message);
  }
}

/** What withLocalIndex() hands its body: the index as read under the lock, and how to replace it. */
export interface LockedIndex {
  index: TailorIndex;
  /** Replaces the index atomically, if the lock is still held (else a one-line BuildError). */
  write(next: TailorIndex): Promise<void>;
}

/**
 * Runs `body` holding the index's exclusive lock, with the index as it stands. Everything
 * the body does happens while no other build or cleanup changes this release: a local
 * store places an image's files and names them in the index inside one such body.
 */
export async function withLocalIndex<T>(
  imagesDir: string,
  body: (locked: LockedIndex) => Promise<T>,
  timing?: LockTiming,
): Promise<T> {
  const path = join(imagesDir, LOCAL_INDEX_FILE);
  return withFileLock(
    path,
    async (hold) =>
      body({
        index: readLocalIndex(imagesDir),
        write: async (next) => {
          hold.assertHeld();
          await replaceFileAtomically(path, serializeIndex(next));
        },
      }),
    timing,
  );
}

/**
 * Changes a local index under an exclusive lock and replaces it atomically (a temp file
 * renamed over it), so concurrent builds into one folder never lose each other's
 * entries and a reader never sees a half-written file. A lock left by a dead process
 * goes stale after 20 s and is taken over.
 */
export async function updateLocalIndex(
  imagesDir: string,
  mutate: (index: TailorIndex) => TailorIndex,
): Promise<TailorIndex> {
  return withLocalIndex(imagesDir, async ({ index, write }) => {
    const next = mutate(index);
    await write(next);
    return next;
  });
}
