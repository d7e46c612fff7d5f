import { randomBytes } from 'node:crypto';
import { constants, copyFile, link, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Artifact, BuiltImage } from '../../core/image';
import { BuildError, UsageError } from '../../core/errors';
import { BuildLog } from '../../core/log';
import { checksumFiles, manifestFileName, sbomFiles } from '../side-files';
import { sweepStale } from '../stale-files';
import { StoredFile } from '../store';
import { entryExists, errnoOf } from './folder-check';
import { writerOfTempFile } from './locked-file';

/** A file to put in a folder store: where it is now (or its text), and the name it gets. */
interface Placement {
  from?: string;
  content?: string;
  fileName: string;
}

/**
 * The files a folder store holds for one image: extra artifacts, checksum files, the
 * manifest and the SBOMs, then the image file itself, last, so that where no index says what is stored
 * (build-only) the image file's presence means the whole image is there.
 */
export function filesFor(image: BuiltImage): Placement[] {
  const main = image.artifacts.filter((artifact) => artifact.role === 'image');
  const extras = image.artifacts.filter((artifact) => artifact.role !== 'image');
  return [
    ...extras.map((artifact) => ({ from: artifact.path, fileName: artifact.fileName })),
    ...checksumFiles(image).map((file) => ({ content: file.text, fileName: file.fileName })),
    { from: image.manifestPath, fileName: manifestFileName(image) },
    ...sbomFiles(image).map((file) => ({ from: file.path, fileName: file.fileName })),
    ...main.map((artifact) => ({ from: artifact.path, fileName: artifact.fileName })),
  ];
}

/** An image's files copied into the store folder under hidden temporary names, not yet in place. */
export interface StagedImage {
  /** The image's files as they will lie in the folder. */
  readonly files: StoredFile[];
  /**
   * Gives every staged file its name, never replacing a file that is there (see
   * placeNoReplace); on a failure, whatever it placed is removed again.
   */
  place(): Promise<void>;
  /** Removes what place() put in place (the rollback of a failed index update). */
  unplace(): Promise<void>;
  /** Removes the temporary files that were not placed. */
  discard(): Promise<void>;
}

const PARTIAL = /^\..+\.(\d+)\.[0-9a-f]{8}\.partial$/;

/**
 * Copies every file of an image into `dir` under a hidden temporary name
 * (`.<file>.<pid>.<random>.partial`), the slow part, done before any lock is taken. On a
 * failure the temporary files are removed again.
 */
export async function stageFiles(dir: string, image: BuiltImage): Promise<StagedImage> {
  const files = filesFor(image);
  const suffix = `${process.pid}.${randomBytes(4).toString('hex')}.partial`;
  const temps = files.map((file) => join(dir, `.${file.fileName}.${suffix}`));
  const placed: string[] = [];
  const discard = () => Promise.all(temps.map((path) => rm(path, { force: true }))).then(() => undefined);
  try {
    await mkdir(dir, { recursive: true });
    for (const [i, file] of files.entries()) {
      if (file.from) await copyFile(file.from, temps[i], constants.COPYFILE_FICLONE);
      else await writeFile(temps[i], file.content!);
    }
  } catch (error) {
    await discard();
    throw new BuildError(`cannot write into ${dir}: ${errnoOf(error)}`);
  }
  const unplace = async () => {
    await Promise.all(placed.map((path) => rm(path, { force: true })));
    placed.length = 0;
  };
  return {
    files: image.artifacts.map((artifact: Artifact) => ({
      fileName: artifact.fileName,
      location: resolve(dir, artifact.fileName),
      size: artifact.size,
      md5: artifact.md5,
      sha256: artifact.sha256,
    })),
    async place() {
      try {
        for (const [i, file] of files.entries()) {
          const target = join(dir, file.fileName);
          await placeNoReplace(temps[i], target);
          placed.push(target);
        }
      } catch (error) {
        await unplace();
        throw error;
      }
    },
    unplace,
    discard,
  };
}

/** File systems that refuse hard links answer link() with one of these. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV', 'EMLINK']);

/**
 * Moves `temp` to `target` unless something already has that name, atomically: a hard
 * link (which fails with EEXIST when the name is taken), then the temporary name goes.
 * Where the file system has no hard links, an existence check and a rename, which the
 * store's lock keeps race-free between builds.
 */
export async function placeNoReplace(temp: string, target: string): Promise<void> {
  const taken = () => new BuildError(`${target} already exists; refusing to replace it`);
  try {
    await link(temp, target);
    await rm(temp, { force: true });
    return;
  } catch (error) {
    const code = errnoOf(error);
    if (code === 'EEXIST') throw taken();
    if (!NO_HARD_LINKS.has(code)) throw new BuildError(`cannot write ${target}: ${code}`);
  }
  if (entryExists(target)) throw taken();
  try {
    await rename(temp, target);
  } catch (error) {
    throw new BuildError(`cannot write ${target}: ${errnoOf(error)}`);
  }
}

/**
 * Removes the files of an image that a killed build left in `dir` (some placed, the image
 * not stored), so the same build can run again. Only call it holding the lock that makes
 * placing this image exclusive, after finding that the image is not stored.
 */
export async function removeLeftovers(dir: string, image: BuiltImage, log: BuildLog): Promise<void> {
  for (const file of filesFor(image)) {
    const path = join(dir, file.fileName);
    if (!entryExists(path)) continue;
    log.warn(`removing ${path}, left by an unfinished earlier build of ${image.imageName}`);
    await rm(path, { force: true });
  }
}

/**
 * Sweeps the `.partial` and `.tmp` files killed builds left in a store folder (see
 * stale-files.ts: untouched for an hour and their writer gone). Best effort.
 */
export async function sweepStaleTemps(dir: string, log: BuildLog): Promise<void> {
  const removed = await sweepStale(dir, {
    writerOf: (name) => {
      const partial = PARTIAL.exec(name);
      return partial ? Number(partial[1]) : writerOfTempFile(name);
    },
  });
  if (removed.length > 0) log.info(`removed ${removed.length} temporary file(s) left in ${dir} by killed builds`);
}

/** Refuses to build an image whose file is already in the folder (same timestamp). */
export function checkNotStored(dir: string, fileName: string): void {
  if (entryExists(join(dir, fileName))) {
    throw new UsageError(`${join(dir, fileName)} already exists (pick another --timestamp)`);
  }
}
