import { randomBytes } from 'node:crypto';
import { constants, existsSync, lstatSync, readdirSync, readlinkSync, Stats } from 'node:fs';
import { chmod, chown, copyFile, mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { BuildError } from '../core/errors';

/** How many symbolic links one path may pass through before it counts as a loop (Linux's limit). */
export const MAX_LINK_HOPS = 40;

/**
 * The host side's only way into an image's root filesystem. The build runs as root, so a
 * path joined to the rootfs and handed to the host's fs would follow the image's absolute
 * links (`/etc/localtime -> /usr/share/zoneinfo/Etc/UTC`, `/var/tmp -> /tmp`) to the build
 * host's own files. Here every path is resolved as a chroot would: component by component
 * with lstat, an absolute link target taken from the rootfs root, a relative one from the
 * link's directory, `..` stopping at the root, at most MAX_LINK_HOPS links (more: a loop,
 * a BuildError). The result always lies inside the rootfs.
 *
 * The final component: reads, chmod, mkdir and listing follow a final link (inside the
 * rootfs); remove, lstat, writeFile, copyIn and symlink never do. Removing a link removes
 * the link. Writing a file (or a link) where a link is replaces the link itself with the
 * new file, written under a temporary name and renamed into place, so it never reaches the
 * link's target, wherever that points (ansible's `copy` and install(1) do the same).
 *
 * Paths are image paths ("/etc/hostname"; a leading "/" is optional). The resolution and
 * the operation are two steps, which is sound because nothing runs inside the rootfs
 * while the host side works on it (every chroot command has finished by then).
 */
export class Rootfs {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /**
   * The host path of an image path, with every link on the way followed inside the rootfs;
   * the final component too with `followFinal`. Components that do not exist are kept as
   * named (a path to create).
   */
  resolve(path: string, options: { followFinal: boolean } = { followFinal: true }): string {
    const done: string[] = [];
    let pending = components(path);
    // done[0..existing) are known to exist (as directories, or the final entry).
    let existing = 0;
    let hops = 0;
    while (pending.length > 0) {
      const name = pending.shift()!;
      if (name === '..') {
        done.pop();
        existing = Math.min(existing, done.length);
        continue;
      }
      const last = pending.length === 0;
      const stats = existing === done.length ? lstatOrUndefined(join(this.root, ...done, name)) : undefined;
      if (stats?.isSymbolicLink() && (!last || options.followFinal)) {
        if (++hops > MAX_LINK_HOPS) throw new BuildError(`${imagePath(path)} in the image: too many levels of symbolic links (a loop?)`);
        const target = readlinkSync(join(this.root, ...done, name));
        if (target.startsWith('/')) {
          done.length = 0;
          existing = 0;
        }
        pending = [...components(target), ...pending];
        continue;
      }
      if (stats && !last && !stats.isDirectory()) {
        throw new BuildError(`${imagePath(path)} in the image: ${imagePath(join(...done, name))} is not a directory`);
      }
      done.push(name);
      if (stats) existing = done.length;
    }
    return join(this.root, ...done);
  }

  /** Whether the path names something (a final link followed; a dangling link does not count). */
  exists(path: string): boolean {
    return existsSync(this.resolve(path));
  }

  /** What the path's final component is itself (a link is not followed), or undefined. */
  lstat(path: string): Stats | undefined {
    return lstatOrUndefined(this.resolve(path, { followFinal: false }));
  }

  readFile(path: string): Promise<Buffer>;
  readFile(path: string, encoding: 'utf8'): Promise<string>;
  readFile(path: string, encoding?: 'utf8'): Promise<Buffer | string> {
    return encoding ? readFile(this.resolve(path), encoding) : readFile(this.resolve(path));
  }

  /**
   * Writes a whole file (parents made as needed), replacing whatever entry is there, a link
   * included. Without `mode`, a regular file it replaces keeps its mode and owner; a new one
   * is 0644, owned by root.
   */
  async writeFile(path: string, data: string | Buffer, options: { mode?: number } = {}): Promise<void> {
    await this.place(path, async (temp, previous) => {
      await writeFile(temp, data, { flag: 'wx', mode: 0o600 });
      await settle(temp, options.mode, previous);
    });
  }

  /** Copies a host file into the image, like writeFile. */
  async copyIn(hostFile: string, path: string, options: { mode?: number } = {}): Promise<void> {
    await this.place(path, async (temp, previous) => {
      await copyFile(hostFile, temp, constants.COPYFILE_EXCL);
      await settle(temp, options.mode, previous);
    });
  }

  /** A symbolic link at `path` (replacing what is there); `target` is kept as given, for the image. */
  async symlink(target: string, path: string): Promise<void> {
    await this.place(path, (temp) => symlink(target, temp));
  }

  /** mkdir -p (a final link is followed inside the rootfs). */
  async mkdirp(path: string, mode?: number): Promise<void> {
    await mkdir(this.resolve(path), { recursive: true, ...(mode !== undefined ? { mode } : {}) });
  }

  async chmod(path: string, mode: number): Promise<void> {
    await chmod(this.resolve(path), mode);
  }

  /** rm -rf of the entry itself: a link is removed, never what it points to. Missing is fine. */
  async remove(path: string): Promise<void> {
    const target = this.resolve(path, { followFinal: false });
    if (target === this.root) throw new BuildError('refusing to remove the root of the image');
    await rm(target, { recursive: true, force: true });
  }

  /** The names in a directory (a final link followed inside the rootfs); none when it is missing. */
  list(dir: string): string[] {
    const real = this.resolve(dir);
    if (!lstatOrUndefined(real)?.isDirectory()) return [];
    return readdirSync(real);
  }

  /** Removes the entries of a directory that `select` picks (links removed, not followed). */
  async removeChildren(dir: string, select: (name: string) => boolean = () => true): Promise<void> {
    const real = this.resolve(dir);
    if (!lstatOrUndefined(real)?.isDirectory()) return;
    for (const name of readdirSync(real)) {
      if (select(name)) await rm(join(real, name), { recursive: true, force: true });
    }
  }

  /** Makes the new entry under a temporary name beside `path`'s place, then renames it over that place. */
  private async place(path: string, make: (temp: string, previous: Stats | undefined) => Promise<void>): Promise<void> {
    const target = this.resolve(path, { followFinal: false });
    if (target === this.root) throw new BuildError('refusing to replace the root of the image');
    await mkdir(dirname(target), { recursive: true });
    const temp = join(dirname(target), `.${basename(target)}.tailor-${randomBytes(6).toString('hex')}`);
    try {
      await make(temp, lstatOrUndefined(target));
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true });
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') {
        throw new BuildError(`cannot write ${imagePath(path)} in the image: a directory is in the way`);
      }
      throw error;
    }
  }
}

/** The new file's mode: the one asked for, else the regular file it replaces keeps its mode and owner, else 0644. */
async function settle(temp: string, mode: number | undefined, previous: Stats | undefined): Promise<void> {
  const replaced = previous?.isFile() ? previous : undefined;
  if (replaced) await chown(temp, replaced.uid, replaced.gid);
  await chmod(temp, mode ?? (replaced ? replaced.mode & 0o7777 : 0o644));
}

/** The components of a path, without empty ones and ".". */
function components(path: string): string[] {
  return path.split('/').filter((part) => part !== '' && part !== '.');
}

function imagePath(path: string): string {
  return `/${components(path).join('/')}`;
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
}
