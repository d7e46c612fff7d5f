import { lstatSync, lutimesSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Rootfs } from './rootfs-path';

/**
 * What the finalize stage does so that the rootfs holds the same bytes and times whenever
 * it is built cold from the same inputs: caches that record the build machine's inodes or
 * times go, password ages and file times are clamped to SOURCE_DATE_EPOCH.
 */

/**
 * Files tools leave that record the build rather than the image: ldconfig's aux-cache
 * (inode numbers and ctimes of the libraries), the backups dpkg and debconf keep of their
 * previous database (whatever the last run before them left), fontconfig's caches (made
 * again at first use). Image paths; globs only in the last component.
 */
export const UNREPRODUCIBLE_LEFTOVERS = [
  '/var/cache/ldconfig/aux-cache',
  '/var/cache/debconf/*-old',
  '/var/lib/dpkg/*-old',
  '/var/cache/fontconfig/*',
] as const;

/** Removes UNREPRODUCIBLE_LEFTOVERS from the image. */
export async function removeUnreproducibleLeftovers(image: Rootfs): Promise<void> {
  for (const path of UNREPRODUCIBLE_LEFTOVERS) {
    const slash = path.lastIndexOf('/');
    const dir = path.slice(0, slash);
    const name = path.slice(slash + 1);
    if (!name.includes('*')) {
      await image.remove(path);
      continue;
    }
    const pattern = new RegExp(`^${name.split('*').map(escapeRegExp).join('.*')}$`);
    await image.removeChildren(dir, (entry) => pattern.test(entry));
  }
}

/** Whole days since the epoch, the unit of /etc/shadow's "last change" field. */
export function epochDays(epoch: number): number {
  return Math.floor(epoch / 86400);
}

/**
 * /etc/shadow with every password's "last change" day no later than the build's day
 * (useradd and chpasswd write today's; shadow before 4.9, as on jammy, ignores
 * SOURCE_DATE_EPOCH). Empty fields and 0 (change at next login) are kept.
 */
export function clampShadowText(text: string, days: number): string {
  return text
    .split('\n')
    .map((line) => {
      const fields = line.split(':');
      if (fields.length < 3 || !/^[0-9]+$/.test(fields[2]) || fields[2] === '0') return line;
      if (Number(fields[2]) > days) fields[2] = String(days);
      return fields.join(':');
    })
    .join('\n');
}

/** Clamps the password ages of /etc/shadow and its backup /etc/shadow- (owner and mode kept). */
export async function clampPasswordAges(image: Rootfs, epoch: number): Promise<void> {
  for (const path of ['/etc/shadow', '/etc/shadow-']) {
    if (!image.lstat(path)?.isFile()) continue;
    const before = (await image.readFile(path, 'utf8')) as string;
    const after = clampShadowText(before, epochDays(epoch));
    if (after !== before) await image.writeFile(path, after);
  }
}

/**
 * Gives every entry of the tree (links themselves, never their targets) modified after
 * `since` or after `epoch` the time `epoch`: what the build wrote gets the build time,
 * what packages brought keeps its own. `since` is when this run began, so that a
 * timestamp a little ahead of the clock clamps the build's own files too. Returns how many
 * entries changed. Nothing may be mounted below `root` (finalize has unmounted the chroot).
 */
export function clampTreeTimes(root: string, epoch: number, since: number): number {
  const threshold = Math.min(epoch, since);
  let changed = 0;
  const visit = (path: string) => {
    const stats = lstatSync(path);
    if (stats.mtimeMs / 1000 > threshold && stats.mtimeMs !== epoch * 1000) {
      lutimesSync(path, epoch, epoch);
      changed++;
    }
    if (!stats.isDirectory()) return;
    for (const name of readdirSync(path)) visit(join(path, name));
  };
  // Children first would not matter: changing a child's times leaves its directory's mtime alone.
  visit(root);
  return changed;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}
