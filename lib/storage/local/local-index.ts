import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BuildError } from '../../core/errors';
import { LOCAL_INDEX_FILE } from './layout';
import { replaceFileAtomically, withFileLock } from './locked-file';
import { parseIndex, serializeIndex, TailorIndex } from '../indexes/tailor-index';

export { LOCAL_INDEX_FILE } from './layout';

/** Reads `<imagesDir>/index.json`, or an empty index when there is none yet. */
export function readLocalIndex(imagesDir: string): TailorIndex {
  const path = join(imagesDir, LOCAL_INDEX_FILE);
  if (!existsSync(path)) return {};
  try {
    return parseIndex(readFileSync(path, 'utf8'), path);
  } catch (error) {
    throw new BuildError((error as Error).message);
  }
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
  const path = join(imagesDir, LOCAL_INDEX_FILE);
  return withFileLock(path, async () => {
    const next = mutate(readLocalIndex(imagesDir));
    await replaceFileAtomically(path, serializeIndex(next));
    return next;
  });
}
