import { existsSync, readdirSync, statSync } from 'node:fs';
import { entryExists, linkProblem } from './folder-check';
import { join } from 'node:path';
import { BuildError } from '../../core/errors';
import { replaceFileAtomically, withFileLock } from './locked-file';
import { LOCAL_INDEX_FILE, localImagesDir } from './layout';
import { readLocalIndex } from './local-index';
import { STREAMS_IMAGES_PATH, StreamFile, streamFilesFromIndexes, StreamImage, streamImagesFromIndex } from '../indexes/simplestreams';
import { TailorIndex } from '../indexes/tailor-index';

/**
 * The tailor index of every release label under a local store root: each
 * `<root>/<label>/images/index.json` read as it stands (they are replaced atomically,
 * so a reader sees a whole file), paths relative to the root. A label folder may be a
 * symlink to a folder; one that leads nowhere (dangling, a loop) or an index that cannot be
 * read is a BuildError naming it, since the streams cannot be rebuilt without it. Hidden
 * names, `streams` and plain files at the root are not labels.
 */
export function localIndexes(root: string): { releaseLabel: string; index: TailorIndex }[] {
  const indexes: { releaseLabel: string; index: TailorIndex }[] = [];
  const names = existsSync(root) ? readdirSync(root).filter((name) => !name.startsWith('.') && name !== 'streams').sort() : [];
  for (const label of names) {
    const path = join(root, label);
    const problem = linkProblem(path);
    if (problem) throw new BuildError(`${path} is ${problem}`);
    if (!statSync(path).isDirectory()) continue;
    const imagesDir = localImagesDir(root, label);
    if (!entryExists(join(imagesDir, LOCAL_INDEX_FILE))) continue;
    indexes.push({ releaseLabel: label, index: readLocalIndex(imagesDir) });
  }
  return indexes;
}

export function localStreamImages(root: string): StreamImage[] {
  return localIndexes(root).flatMap(({ releaseLabel, index }) => streamImagesFromIndex(index, releaseLabel));
}

/**
 * Rewrites `<root>/streams/v1/images.json` and `index.json` from the tailor indexes of
 * every release label in the store, so the folder is a simplestreams image server.
 *
 * Called after each tailor index update. It takes its own lock (on images.json), reads
 * the indexes inside it and replaces each file atomically (temp file + rename),
 * images.json first and index.json last: concurrent builds, whatever their order, leave
 * streams that list every image whose index update finished before the last rewrite
 * began, and a reader never sees a half-written file.
 */
export async function rewriteLocalStreams(root: string): Promise<StreamFile[]> {
  return withFileLock(join(root, STREAMS_IMAGES_PATH), async (hold) => {
    let files: StreamFile[];
    try {
      files = streamFilesFromIndexes(localIndexes(root));
    } catch (error) {
      throw new BuildError(`cannot build the simplestreams index of ${root}: ${(error as Error).message}`);
    }
    for (const file of files) {
      hold.assertHeld();
      await replaceFileAtomically(join(root, file.path), file.body);
    }
    return files;
  });
}
