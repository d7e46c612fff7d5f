import { join, resolve } from 'node:path';
import { BuiltImage, mainArtifact } from '../../core/image';
import { BuildLog } from '../../core/log';
import { checkWritableFolder, entryExists } from './folder-check';
import { withFileLock } from './locked-file';
import { checkNotStored, removeLeftovers, stageFiles, sweepStaleTemps } from './place-files';
import { ImageStore, PlannedImage, StoredImage } from '../store';
import { BuildError } from '../../core/errors';

/**
 * build-only: the image and its checksum files land in one folder (./images), no index.
 * The image file is placed last, so its presence means the image is there whole; placing
 * holds a lock of the image's own (`.<image>.lock`), so two builds of one image name never
 * mix their files, and a rerun clears what a killed build left of it.
 */
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
    const staged = await stageFiles(this.dir, image);
    const target = join(this.dir, mainArtifact(image).fileName);
    try {
      await withFileLock(join(this.dir, `.${image.imageName}`), async (hold) => {
        if (entryExists(target)) throw new BuildError(`${target} already exists; refusing to replace it`);
        await removeLeftovers(this.dir, image, log);
        hold.assertHeld();
        await staged.place();
      });
    } finally {
      await staged.discard();
    }
    await sweepStaleTemps(this.dir, log);
    log.info(`image written to ${resolve(target)}`);
    return { imageName: image.imageName, mode: this.mode, files: staged.files };
  }
}
