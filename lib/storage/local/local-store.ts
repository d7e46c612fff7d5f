import { dirname, join, resolve } from 'node:path';
import { BuildError } from '../../core/errors';
import { BuiltImage } from '../../core/image';
import { BuildLog, silentLog } from '../../core/log';
import { entryFor, listEntries, withEntryInFreeSlot } from '../indexes/tailor-index';
import { STREAMS_IMAGES_PATH } from '../indexes/simplestreams';
import { checkSlotFree } from '../planned-slot';
import { ImageStore, PlannedImage, StoredImage } from '../store';
import { checkWritableFolder } from './folder-check';
import { readLocalIndex, withLocalIndex } from './local-index';
import { localIndexes, rewriteLocalStreams } from './local-streams';
import { LOCAL_INDEX_FILE, localImagesDir } from './layout';
import { removeLeftovers, stageFiles, sweepStaleTemps } from './place-files';
import { OpenPgpSigner } from '../signing/openpgp-signer';
import { digestsToCome, signLocalRelease } from '../signing/release-sums';

/**
 * local storage: an organised folder, `<path>/<release_label>/images/`, holding each
 * image with its .md5 (md5sum format), .sha256 and .manifest, and index.json in the
 * tailor index shape, merged under a lock.
 *
 * An image is stored when its release's index names it. put() copies its files in under
 * temporary names, then, holding the index lock, checks its slot is free, clears what a
 * killed earlier build of the same image left, moves the files to their names (never
 * replacing one) and writes the index; a failure there removes the files again. So a build
 * either stores its image whole or leaves nothing that a rerun trips over. The simplestreams
 * files follow; they are rebuilt from every index by each build, so a failure there is a
 * warning naming the file, never a failed build of a stored image.
 */
export class LocalStore implements ImageStore {
  readonly mode = 'local' as const;

  constructor(
    readonly root: string,
    /** The images of the run, each checked by verify(). */
    private readonly planned: PlannedImage[] = [],
    /** `--signing-key`: then every release folder written gets a signed SHA256SUMS and index.json.gpg. */
    private readonly signingKey?: string,
  ) {}

  private signer?: OpenPgpSigner;

  private get streamsDir(): string {
    return join(this.root, dirname(STREAMS_IMAGES_PATH));
  }

  describe(): string {
    const labels = [...new Set(this.planned.map((image) => image.releaseLabel))];
    const where = labels.length === 1 ? localImagesDir(this.root, labels[0]) : localImagesDir(this.root, '<release_label>');
    return `local storage: ${resolve(where)} (index: ${LOCAL_INDEX_FILE})`;
  }

  /**
   * Before any work: every folder the store writes into can be written (no file, dangling
   * symlink or symlink loop in the way), every release's index can be read (the streams are
   * rebuilt from all of them), and no planned image is indexed already or finds its slot
   * taken. A store that cannot be used is a BuildError (exit 1); an image that is already
   * there is a UsageError (exit 2: pick another --timestamp).
   */
  async verify(): Promise<void> {
    if (this.signingKey) this.signer = await OpenPgpSigner.fromFile(this.signingKey, silentLog);
    await checkWritableFolder(this.root, 'the local storage path');
    const labels = [...new Set(this.planned.map((image) => image.releaseLabel))];
    for (const label of labels) await checkWritableFolder(localImagesDir(this.root, label), 'the release folder');
    await checkWritableFolder(this.streamsDir, 'the simplestreams folder');
    const indexes = new Map(localIndexes(this.root).map(({ releaseLabel, index }) => [releaseLabel, index]));
    for (const image of this.planned) {
      const imagesDir = localImagesDir(this.root, image.releaseLabel);
      const index = indexes.get(image.releaseLabel) ?? readLocalIndex(imagesDir);
      checkSlotFree(image, index, join(imagesDir, LOCAL_INDEX_FILE));
    }
  }

  async put(image: BuiltImage, log: BuildLog): Promise<StoredImage> {
    const imagesDir = localImagesDir(this.root, image.releaseLabel);
    const indexPath = join(imagesDir, LOCAL_INDEX_FILE);
    const staged = await stageFiles(imagesDir, image);
    // A signed release: hash what SHA256SUMS does not list yet now, not under the lock.
    const known = this.signingKey ? await digestsToCome(imagesDir, LOCAL_INDEX_FILE) : new Map<string, string>();
    for (const artifact of image.artifacts) known.set(artifact.fileName, artifact.sha256);
    const { slot, entry } = entryFor(image);
    try {
      await withLocalIndex(imagesDir, async ({ index, write }) => {
        if (listEntries(index).some((e) => e.entry.file === image.imageName)) {
          throw new BuildError(`${indexPath} already names ${image.imageName}; refusing to replace it`);
        }
        const next = withEntryInFreeSlot(index, slot, entry, indexPath);
        await removeLeftovers(imagesDir, image, log);
        await staged.place();
        try {
          await write(next);
        } catch (error) {
          await staged.unplace();
          throw error;
        }
        if (this.signingKey) {
          this.signer ??= await OpenPgpSigner.fromFile(this.signingKey, log);
          await signLocalRelease(imagesDir, LOCAL_INDEX_FILE, this.signer, log, known).catch(async (error: unknown) => {
            // Unsigned is not stored: the index goes back to what it was, the files go.
            await write(index);
            await staged.unplace();
            throw error;
          });
        }
      });
    } finally {
      await staged.discard();
    }
    await sweepStaleTemps(imagesDir, log);
    // simplestreams (docs/IMAGE_SERVER.md), written last
    await rewriteLocalStreams(this.root).catch((error: unknown) => {
      log.warn(`simplestreams files in ${this.streamsDir} not updated: ${(error as Error).message}`);
    });
    await sweepStaleTemps(this.streamsDir, log);
    log.info(`image stored in ${resolve(imagesDir)}; index ${resolve(indexPath)} updated`);
    return { imageName: image.imageName, mode: this.mode, files: staged.files, index: resolve(indexPath) };
  }
}
