import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { run } from '../../core/exec';
import { BuildLog } from '../../core/log';

/** EBS direct block size: every snapshot block is 512 KiB. */
export const SNAPSHOT_BLOCK_SIZE = 512 * 1024;

/** The raw disk's size in bytes: `xz --robot --list` for a .xz file (no decompression), else the file's size. */
export async function rawDiskSize(path: string, log: BuildLog, signal?: AbortSignal): Promise<number> {
  if (!path.endsWith('.xz')) return (await stat(path)).size;
  const { stdout } = await run('xz', ['--robot', '--list', '--', path], { capture: true, log, signal, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' } });
  const totals = stdout.split('\n').find((line) => line.startsWith('totals\t'));
  const size = Number(totals?.split('\t')[4]);
  if (!Number.isSafeInteger(size) || size < 0) throw new Error(`xz --list gave no uncompressed size for ${path}`);
  return size;
}

/**
 * The raw disk as a stream, without a temporary copy: `xz -dc` for a .xz file, else the
 * file itself. A failed xz (a damaged file) ends the stream with an error.
 */
export function openRawDisk(path: string, signal?: AbortSignal): Readable {
  if (!path.endsWith('.xz')) return createReadStream(path, { highWaterMark: SNAPSHOT_BLOCK_SIZE, signal });
  const child = spawn('xz', ['-dc', '--', path], { stdio: ['ignore', 'pipe', 'pipe'], signal, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' } });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  const out = child.stdout;
  child.on('error', (error) => out.destroy(error));
  child.on('close', (code, sig) => {
    if (code !== 0 && !signal?.aborted) out.destroy(new Error(`xz -dc ${path} failed (${sig ?? `exit ${code}`}): ${stderr.trim().split('\n').pop() ?? ''}`));
  });
  return out;
}

/**
 * The stream cut in SNAPSHOT_BLOCK_SIZE blocks, in order (the last one padded with zeros,
 * as the snapshot stores it). Each block is a fresh buffer the caller may keep.
 */
export async function* diskBlocks(source: Readable): AsyncGenerator<{ index: number; data: Buffer }> {
  let block = Buffer.alloc(SNAPSHOT_BLOCK_SIZE);
  let filled = 0;
  let index = 0;
  for await (const chunk of source as AsyncIterable<Buffer>) {
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(chunk.length - offset, SNAPSHOT_BLOCK_SIZE - filled);
      chunk.copy(block, filled, offset, offset + take);
      filled += take;
      offset += take;
      if (filled === SNAPSHOT_BLOCK_SIZE) {
        yield { index: index++, data: block };
        block = Buffer.alloc(SNAPSHOT_BLOCK_SIZE);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield { index, data: block };
}

const ZERO_BLOCK = Buffer.alloc(SNAPSHOT_BLOCK_SIZE);

/** A block of zeros is never sent: a snapshot reads unwritten blocks as zeros. */
export function isZeroBlock(data: Buffer): boolean {
  return data.equals(ZERO_BLOCK);
}
