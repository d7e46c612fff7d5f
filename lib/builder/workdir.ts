import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { run } from '../core/exec';
import { BuildLog } from '../core/log';

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo). */
export function mountsBelow(dir: string): string[] {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return text
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => Boolean(point))
    .map((point) => point.replace(/\\040/g, ' '))
    .filter((point) => point === dir || point.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
}

/**
 * Removes a work directory, but never through a mount: anything still mounted below it
 * (say, by an interrupted mmdebstrap) is unmounted first, and if that fails the
 * directory is left alone with a warning rather than deleting the host's /dev or /proc.
 */
export async function removeWorkDir(dir: string, log: BuildLog): Promise<void> {
  for (const point of mountsBelow(dir)) {
    try {
      await run('umount', ['--recursive', '--lazy', point], { log, describe: `umount ${point}` });
    } catch {
      /* checked again below */
    }
  }
  const left = mountsBelow(dir);
  if (left.length > 0) {
    log.warn(`not removing ${dir}: still mounted there: ${left.join(', ')}`);
    return;
  }
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}
