import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import lockfile from 'proper-lockfile';
import { BuildError } from '../errors';
import { parseIndex, serializeIndex, TailorIndex } from './tailor-index';

export const LOCAL_INDEX_FILE = 'index.json';

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
  await mkdir(imagesDir, { recursive: true });
  const path = join(imagesDir, LOCAL_INDEX_FILE);
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
    const next = mutate(readLocalIndex(imagesDir));
    const temp = join(imagesDir, `.${LOCAL_INDEX_FILE}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      await writeFile(temp, serializeIndex(next), { flush: true });
      await rename(temp, path);
    } finally {
      await rm(temp, { force: true });
    }
    return next;
  } finally {
    await release();
  }
}
