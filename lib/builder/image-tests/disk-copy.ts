import { copyFile, link, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildError } from '../../core/errors';
import { BuildLog } from '../../core/log';
import { lastLines, runHost } from './guest';
import { ROOT_PARTITION_TYPES } from '../packers/disk/architectures';

/**
 * The GPT types a root filesystem has: the Discoverable Partitions roots of the architectures
 * the builder makes disks for (x86-64, arm64), or plain Linux data.
 */
export const ROOT_TYPES = [...ROOT_PARTITION_TYPES, '0FC63DAF-8483-4772-8E79-3D69D8477DE4'];

/**
 * A throwaway copy of a disk image to boot for the tests, made from the stored file without
 * writing it: a .raw.xz is decompressed (sparse) from a hard link beside the copy; a raw
 * disk is copied sparse (a reflink where the filesystem can). The copy is what gets the
 * test channel and what boots; it is removed after.
 */
export async function throwawayDisk(artifact: string, dir: string, log: BuildLog, signal: AbortSignal): Promise<string> {
  const disk = join(dir, 'test-disk.raw');
  if (artifact.endsWith('.xz')) {
    const linked = `${disk}.xz`;
    await link(artifact, linked).catch(() => copyFile(artifact, linked));
    const result = await runHost('xz', ['--decompress', '--keep', '--force', '--threads=0', linked], { timeoutMs: 30 * 60_000, log });
    await rm(linked, { force: true });
    if (result.status !== 0) throw new BuildError(`test: cannot decompress the disk: ${lastLines(result.output, 1).join('')}`, result.output);
  } else {
    const result = await runHost('cp', ['--sparse=always', '--reflink=auto', artifact, disk], { timeoutMs: 30 * 60_000, log });
    if (result.status !== 0) throw new BuildError(`test: cannot copy the disk: ${lastLines(result.output, 1).join('')}`, result.output);
  }
  if (signal.aborted) throw new BuildError('test: interrupted');
  return disk;
}

/** The byte offset of the disk's root filesystem (the last partition of a root type). */
export async function rootPartitionOffset(disk: string, log: BuildLog): Promise<number> {
  const result = await runHost('sfdisk', ['--json', disk], { timeoutMs: 60_000, log });
  if (result.status !== 0) throw new BuildError(`test: cannot read the disk's partition table: ${lastLines(result.output, 1).join('')}`);
  const table = (JSON.parse(result.output) as { partitiontable: { sectorsize?: number; partitions: { start: number; type: string }[] } }).partitiontable;
  const roots = table.partitions.filter((p) => ROOT_TYPES.includes(p.type.toUpperCase()));
  if (roots.length === 0) throw new BuildError('test: the disk has no root partition (GPT type root x86-64, root arm64 or Linux filesystem)');
  return roots[roots.length - 1].start * (table.sectorsize ?? 512);
}

/** Writes files into the ext4 filesystem at `offset` in `disk` with debugfs (no mount, no loop device). */
export async function writeIntoExt4(
  disk: string,
  offset: number,
  files: { path: string; content: string; mode: number }[],
  symlinks: { path: string; target: string }[],
  dir: string,
  log: BuildLog,
): Promise<void> {
  const script: string[] = [];
  for (const [i, file] of files.entries()) {
    const source = join(dir, `inject-${i}`);
    await writeFile(source, file.content, { mode: file.mode });
    script.push(`rm ${file.path}`, `write ${source} ${file.path}`, `sif ${file.path} mode 0${(0o100000 | file.mode).toString(8)}`);
    script.push(`sif ${file.path} uid 0`, `sif ${file.path} gid 0`);
  }
  for (const link of symlinks) script.push(`mkdir ${link.path.replace(/\/[^/]+$/, '')}`, `rm ${link.path}`, `symlink ${link.path} ${link.target}`);
  const scriptFile = join(dir, 'inject.debugfs');
  await writeFile(scriptFile, `${script.join('\n')}\n`);
  const result = await runHost('debugfs', ['-w', '-f', scriptFile, `${disk}?offset=${offset}`], { timeoutMs: 120_000, log });
  if (result.status !== 0) throw new BuildError(`test: debugfs could not prepare the test copy: ${lastLines(result.output, 1).join('')}`, result.output);
  // debugfs goes on after a failed request: check that every file arrived.
  for (const file of files) {
    const check = await runHost('debugfs', ['-R', `stat ${file.path}`, `${disk}?offset=${offset}`], { timeoutMs: 60_000, log });
    if (check.status !== 0 || /File not found/.test(check.output)) throw new BuildError(`test: ${file.path} did not reach the test copy of the disk`);
  }
}
