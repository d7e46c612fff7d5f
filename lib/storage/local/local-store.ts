import { resolve } from 'node:path';
import { BuiltImage } from '../../core/image';
import { BuildLog } from '../../core/log';
import { entryFor, withEntry } from '../indexes/tailor-index';
import { ImageStore, PlannedImage, StoredImage } from '../store';
import { updateLocalIndex } from './local-index';
import { rewriteLocalStreams } from './local-streams';
import { LOCAL_INDEX_FILE, localImagesDir } from './layout';
import { checkNotStored, checkWritableFolder, placeFiles, removePlacedFiles } from './place-files';

/**
 * local storage: an organised folder, `<path>/<release_label>/images/`, holding each
 * image with its .md5 (md5sum format), .sha256 and .manifest, and index.json in the
 * tailor index shape, merged under a lock.
 */
export class LocalStore implements ImageStore {
  readonly mode = 'local' as const;

  constructor(
    readonly root: string,
    /** The images of the run, each checked by verify(). */
    private readonly planned: PlannedImage[] = [],
  ) {}

  describe(): string {
    const labels = [...new Set(this.planned.map((image) => image.releaseLabel))];
    const where = labels.length === 1 ? localImagesDir(this.root, labels[0]) : localImagesDir(this.root, '<release_label>');
    return `local storage: ${resolve(where)} (index: ${LOCAL_INDEX_FILE})`;
  }

  async verify(): Promise<void> {
    await checkWritableFolder(this.root, 'the local storage path');
    for (const image of this.planned) checkNotStored(localImagesDir(this.root, image.releaseLabel), image.fileName);
  }

  async put(image: BuiltImage, log: BuildLog): Promise<StoredImage> {
    const imagesDir = localImagesDir(this.root, image.releaseLabel);
    const files = await placeFiles(imagesDir, image);
    const { slot, entry } = entryFor(image);
    try {
      await updateLocalIndex(imagesDir, (index) => withEntry(index, slot, entry));
    } catch (error) {
      await removePlacedFiles(imagesDir, image);
      throw error;
    }
    await rewriteLocalStreams(this.root); // simplestreams (docs/IMAGE_SERVER.md), written last
    const index = resolve(imagesDir, LOCAL_INDEX_FILE);
    log.info(`image stored in ${resolve(imagesDir)}; index ${index} updated`);
    return { imageName: image.imageName, mode: this.mode, files, index };
  }
}
