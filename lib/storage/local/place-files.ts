import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { constants, copyFile, mkdir, mkdtemp, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Artifact, BuiltImage } from '../../core/image';
import { BuildError, UsageError } from '../../core/errors';
import { checksumFiles, manifestFileName } from '../side-files';
import { StoredFile } from '../store';

/** A file to put in a folder store: where it is now, the name it gets, and its digests. */
interface Placement {
  from?: string;
  content?: string;
  fileName: string;
}

/** The files a folder store holds for one image: artifacts, checksum files, manifest. */
export function filesFor(image: BuiltImage): Placement[] {
  return [
    ...image.artifacts.map((artifact) => ({ from: artifact.path, fileName: artifact.fileName })),
    ...checksumFiles(image).map((file) => ({ content: file.text, fileName: file.fileName })),
    { from: image.manifestPath, fileName: manifestFileName(image) },
  ];
}

/**
 * Copies every file into `dir` under a hidden temporary name, then renames each into
 * place. On any failure everything placed so far is removed again: the folder never
 * holds part of an image.
 */
export async function placeFiles(dir: string, image: BuiltImage): Promise<StoredFile[]> {
  await mkdir(dir, { recursive: true });
  const files = filesFor(image);
  const suffix = `${process.pid}.${randomBytes(4).toString('hex')}.partial`;
  const temps: string[] = [];
  const placed: string[] = [];
  try {
    for (const file of files) {
      const temp = join(dir, `.${file.fileName}.${suffix}`);
      temps.push(temp);
      if (file.from) await copyFile(file.from, temp, constants.COPYFILE_FICLONE);
      else await writeFile(temp, file.content!);
    }
    for (const [i, file] of files.entries()) {
      const target = join(dir, file.fileName);
      if (existsSync(target)) throw new BuildError(`${target} already exists; refusing to replace it`);
      await rename(temps[i], target);
      placed.push(target);
    }
  } catch (error) {
    await Promise.all([...temps, ...placed].map((path) => rm(path, { force: true })));
    if (error instanceof BuildError) throw error;
    throw new BuildError(`cannot write into ${dir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return image.artifacts.map((artifact: Artifact) => ({
    fileName: artifact.fileName,
    location: resolve(dir, artifact.fileName),
    size: artifact.size,
    md5: artifact.md5,
    sha256: artifact.sha256,
  }));
}

/** Removes what placeFiles() put in `dir` for an image (used to roll back). */
export async function removePlacedFiles(dir: string, image: BuiltImage): Promise<void> {
  await Promise.all(filesFor(image).map((file) => rm(join(dir, file.fileName), { force: true })));
}

/**
 * Checks a folder can be written without writing into it: the nearest existing ancestor
 * must be a directory in which a probe directory can be made (and is removed at once).
 */
export async function checkWritableFolder(dir: string, what: string): Promise<void> {
  let existing = resolve(dir);
  while (!existsSync(existing)) {
    const parent = dirname(existing);
    if (parent === existing) break;
    existing = parent;
  }
  let probe: string;
  try {
    probe = await mkdtemp(join(existing, `.tailor-image-probe-`));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOTDIR' ? `${basename(existing)} is not a directory` : code ?? String(error);
    throw new BuildError(`${what} ${dir} is not writable (${reason})`);
  }
  await rmdir(probe);
}

/** Refuses to build an image whose files already exist in the folder (same timestamp). */
export function checkNotStored(dir: string, fileName: string): void {
  if (existsSync(join(dir, fileName))) {
    throw new UsageError(`${join(dir, fileName)} already exists (pick another --timestamp)`);
  }
}
