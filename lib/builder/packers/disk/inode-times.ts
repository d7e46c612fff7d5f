import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildError } from '../../../core/errors';
import { run } from '../../../core/exec';
import { hostToolEnv } from '../../command-env';
import { sourceDateEnv } from '../../source-date';
import { PackInput } from '../packer';

/**
 * mke2fs -d (e2fsprogs 1.47.0) copies each file's atime and ctime from the tree it reads:
 * the times of the build machine (the ctime of a file is when it was last changed, which no
 * one can set; reading a directory moves its atime). So once the filesystem is written,
 * debugfs gives every inode in use the build time (SOURCE_DATE_EPOCH) as atime and ctime;
 * mtimes come clamped from the tree, crtime and the superblock's times from
 * E2FSPROGS_FAKE_TIME.
 */

/** The first inode that holds a file (inodes 1-10 are the filesystem's own, 2 is the root directory). */
const FIRST_FILE_INODE = 11;
const ROOT_INODE = 2;

/** The inodes in use, from `dumpe2fs` output: those of each group that its "Free inodes:" line does not name. */
export function inodesInUse(dumpe2fs: string): number[] {
  const perGroup = Number(/^Inodes per group:\s+(\d+)$/m.exec(dumpe2fs)?.[1]);
  if (!Number.isInteger(perGroup) || perGroup <= 0) throw new BuildError('dumpe2fs: no "Inodes per group" in its output');
  const groups = [...dumpe2fs.matchAll(/^Group (\d+):[\s\S]*?^\s+Free inodes:[ \t]*(.*)$/gm)];
  const used: number[] = [];
  for (const [, groupText, freeText] of groups) {
    const group = Number(groupText);
    const first = group * perGroup + 1;
    const last = first + perGroup - 1;
    const free = new Set<number>();
    for (const range of freeText.split(',').map((part) => part.trim()).filter(Boolean)) {
      const [from, to = from] = range.split('-').map(Number);
      for (let inode = from; inode <= to; inode++) free.add(inode);
    }
    for (let inode = first; inode <= last; inode++) {
      if (free.has(inode)) continue;
      if (inode === ROOT_INODE || inode >= FIRST_FILE_INODE) used.push(inode);
    }
  }
  return used;
}

/** The debugfs commands that give `inodes` the time `epoch` as atime and ctime. */
export function inodeTimeCommands(inodes: number[], epoch: number): string {
  return inodes.map((inode) => `sif <${inode}> atime @${epoch}\nsif <${inode}> ctime @${epoch}\n`).join('');
}

/** Sets atime and ctime of every inode in use of the ext4 filesystem at `offset` in `raw` to `epoch`. */
export async function setInodeTimes(input: PackInput, raw: string, offset: number, epoch: number): Promise<number> {
  const device = `${raw}?offset=${offset}`;
  const env = hostToolEnv(sourceDateEnv(epoch));
  const opts = { log: input.log, signal: input.signal, env };
  const { stdout } = await run('dumpe2fs', [device], { ...opts, capture: true, describe: 'dumpe2fs (inodes in use)' });
  const inodes = inodesInUse(stdout);
  const script = join(input.scratchDir, 'inode-times.debugfs');
  await writeFile(script, inodeTimeCommands(inodes, epoch));
  await run('debugfs', ['-w', '-f', script, device], { ...opts, capture: true, describe: 'debugfs (inode times)' });
  return inodes.length;
}
