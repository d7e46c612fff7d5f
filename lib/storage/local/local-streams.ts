import { existsSync, readdirSync } from 'node:fs';
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
 * so a reader sees a whole file), paths relative to the root.
 */
export function localIndexes(root: string): { releaseLabel: string; index: TailorIndex }[] {
  const indexes: { releaseLabel: string; index: TailorIndex }[] = [];
  const labels = existsSync(root)
    ? readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory() && d.name !== 'streams').map((d) => d.name).sort()
    : [];
  for (const label of labels) {
    const imagesDir = localImagesDir(root, label);
    if (!existsSync(join(imagesDir, LOCAL_INDEX_FILE))) continue;
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
  return withFileLock(join(root, STREAMS_IMAGES_PATH), async () => {
    let files: StreamFile[];
    try {
      files = streamFilesFromIndexes(localIndexes(root));
    } catch (error) {
      throw new BuildError(`cannot build the simplestreams index of ${root}: ${(error as Error).message}`);
    }
    for (const file of files) await replaceFileAtomically(join(root, file.path), file.body);
    return files;
  });
}
