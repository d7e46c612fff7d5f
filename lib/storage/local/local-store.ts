import { join, resolve } from 'node:path';
import { BuiltImage } from '../../core/image';
import { BuildLog } from '../../core/log';
import { LOCAL_INDEX_FILE, updateLocalIndex } from './local-index';
import { rewriteLocalStreams } from './local-streams';
import { checkNotStored, checkWritableFolder, placeFiles, removePlacedFiles } from './place-files';
import { ImageStore, StoredImage } from '../store';
import { entryFor, withEntry } from '../indexes/tailor-index';

/**
 * local storage: an organised folder, `<path>/<release_label>/images/`, holding each
 * image with its .md5 (md5sum format), .sha256 and .manifest, and index.json in the
 * tailor index shape, merged under a lock.
 */
export class LocalStore implements ImageStore {
  readonly mode = 'local' as const;

  constructor(
    readonly root: string,
    readonly releaseLabel: string,
    private readonly expectedFile?: string,
  ) {}

  get imagesDir(): string {
    return join(this.root, this.releaseLabel, 'images');
  }

  describe(): string {
    return `local storage: ${resolve(this.imagesDir)} (index: ${LOCAL_INDEX_FILE})`;
  }

  async verify(): Promise<void> {
    await checkWritableFolder(this.root, 'the local storage path');
    if (this.expectedFile) checkNotStored(this.imagesDir, this.expectedFile);
  }

  async put(image: BuiltImage, log: BuildLog): Promise<StoredImage> {
    const files = await placeFiles(this.imagesDir, image);
    const { slot, entry } = entryFor(image);
    try {
      await updateLocalIndex(this.imagesDir, (index) => withEntry(index, slot, entry));
    } catch (error) {
      await removePlacedFiles(this.imagesDir, image);
      throw error;
    }
    await rewriteLocalStreams(this.root); // simplestreams (docs/IMAGE_SERVER.md), written last
    const index = resolve(this.imagesDir, LOCAL_INDEX_FILE);
    log.info(`image stored in ${resolve(this.imagesDir)}; index ${index} updated`);
    return { imageName: image.imageName, mode: this.mode, files, index };
  }
}
