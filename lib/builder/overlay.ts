import { readFileSync } from 'node:fs';
import { mkdir, rename, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CleanupStack } from './cleanup';
import { run } from '../core/exec';
import { BuildLog } from '../core/log';

/**
 * Mounts `<dir>/rootfs` as an overlay: `lower` read-only underneath (a cached or shared
 * bootstrapped tree), this build's changes in `<dir>/overlay/upper`. Nothing in `lower`
 * is ever written, so several builds can stand on it at once. The unmount is pushed on
 * the cleanup stack; it runs after the chroot's mounts inside it have come down. With
 * `keep` (--keep-work-dir) the finished tree is first copied out, so `<dir>/rootfs` can
 * still be inspected once nothing is mounted (and `<dir>/overlay/upper` is kept). Where no overlay can be mounted, `<dir>/rootfs`
 * is a copy of `lower` instead (slower, same result).
 */
export async function mountOverlayRootfs(
  lower: string,
  dir: string,
  options: { log: BuildLog; cleanups: CleanupStack; signal: AbortSignal; keep: boolean },
): Promise<{ rootfs: string; upper?: string }> {
  const { log, cleanups, signal } = options;
  const rootfs = join(dir, 'rootfs');
  const upper = join(dir, 'overlay', 'upper');
  const work = join(dir, 'overlay', 'work');
  for (const path of [rootfs, upper, work]) await mkdir(path, { recursive: true });
  try {
    await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${escape(lower)},upperdir=${escape(upper)},workdir=${escape(work)}`, rootfs], {
      log,
      signal,
      describe: 'mount overlay rootfs',
    });
  } catch (error) {
    if (signal.aborted) throw error;
    // E.g. in a container (a CodeBuild or CI job) whose own root is an overlay: it cannot
    // hold an overlay's upper layer. The build then works on a copy, as before overlays.
    log.info(`no overlay could be mounted in ${dir} (${(error as Error).message.split('\n')[0]}); copying the base tree instead`);
    await rm(join(dir, 'overlay'), { recursive: true, force: true });
    await run('cp', ['-a', '--reflink=auto', '--', `${lower}/.`, rootfs], { log, signal, describe: 'copy the base tree' });
    return { rootfs };
  }
  cleanups.push(`unmount ${rootfs}`, async () => {
    const copy = join(dir, 'rootfs.copy');
    if (options.keep) await run('cp', ['-a', '--', rootfs, copy], { log, describe: 'copy the rootfs out of its overlay (kept work dir)' });
    try {
      await run('umount', [rootfs], { log, describe: `umount ${rootfs}` });
    } catch {
      await run('umount', ['--lazy', rootfs], { log, describe: `umount --lazy ${rootfs}` });
    }
    if (options.keep) {
      // The upper directory stays (overlay/upper: this build's changes, for a look or a repack).
      await rm(work, { recursive: true, force: true });
      await rmdir(rootfs);
      await rename(copy, rootfs);
    }
  });
  return { rootfs, upper };
}

/** A path as an overlay mount option wants it (",", ":" and "\\" escaped). */
function escape(path: string): string {
  return path.replace(/\\/g, '\\\\').replace(/,/g, '\\,').replace(/:/g, '\\:');
}

/** Whether a mounted overlay (of any build on this host) stands on `lower`. */
export function overlayStandsOn(lower: string): boolean {
  let mounts: string;
  try {
    mounts = readFileSync('/proc/mounts', 'utf8');
  } catch {
    return false;
  }
  // /proc/mounts writes separators inside values as octal escapes (",": \054, " ": \040).
  const decode = (text: string) => text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  return mounts
    .split('\n')
    .filter((line) => line.startsWith('overlay '))
    .some((line) => (line.split(' ')[3] ?? '').split(',').map(decode).includes(`lowerdir=${escape(lower)}`));
}
