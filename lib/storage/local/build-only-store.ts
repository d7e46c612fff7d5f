import { resolve } from 'node:path';
import { BuiltImage } from '../../core/image';
import { BuildLog } from '../../core/log';
import { checkNotStored, checkWritableFolder, placeFiles } from './place-files';
import { ImageStore, PlannedImage, StoredImage } from '../store';

/** build-only: the image and its checksum files land in one folder (./images), no index. */
export class BuildOnlyStore implements ImageStore {
  readonly mode = 'build-only' as const;

  constructor(
    readonly dir: string,
    /** The images of the run, each checked by verify(). */
    private readonly planned: PlannedImage[] = [],
  ) {}

  describe(): string {
    return `build-only: artifacts stay in ${this.dir} (no index; use --local-storage or --publish to store them)`;
  }

  async verify(): Promise<void> {
    await checkWritableFolder(this.dir, 'the output folder');
    for (const image of this.planned) checkNotStored(this.dir, image.fileName);
  }

  async put(image: BuiltImage, log: BuildLog): Promise<StoredImage> {
    const files = await placeFiles(this.dir, image);
    log.info(`image written to ${resolve(this.dir, files[0].fileName)}`);
    return { imageName: image.imageName, mode: this.mode, files };
  }
}
