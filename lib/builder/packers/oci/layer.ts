import { ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BuildError, InterruptedError } from '../../../core/errors';
import { BuildLog } from '../../../core/log';
import { hostToolEnv } from '../../command-env';
import { REPRODUCIBLE_PIGZ_ARGS, deterministicTarFlags } from '../reproducible-tar';
import { treeShape } from '../../bootstrap-cache';
import { ByteProgress, byteProgressOf } from '../../../core/progress';

/** Paths whose contents never go into a layer (the runtime mounts them); the directories stay. */
export const EXCLUDED_CONTENTS = ['dev', 'proc', 'sys', 'run'];

/**
 * GNU tar arguments for a reproducible archive of `dir`: entries sorted by name, mtimes
 * clamped to the build time, numeric owners only (no host user names), no atime/ctime,
 * POSIX format keeping file capabilities.
 */
export function reproducibleTarArgs(
  dir: string,
  epoch: number,
  extra: { file?: string; exclude?: string[]; members?: string[]; ownerRoot?: boolean; clamp?: boolean } = {},
): string[] {
  return [
    '--create',
    `--file=${extra.file ?? '-'}`,
    `--directory=${dir}`,
    ...deterministicTarFlags(epoch, { ownerRoot: extra.ownerRoot, clamp: extra.clamp }),
    '--warning=no-file-ignored',
    '--anchored',
    ...(extra.exclude ?? []).map((pattern) => `--exclude=${pattern}`),
    ...(extra.members ?? ['.']),
  ];
}

/** The compressor, run so that the same input always gives the same bytes (no name, no time). */
export const GZIP_COMMAND = { command: 'pigz', args: [...REPRODUCIBLE_PIGZ_ARGS, '-6', '-c'] };

export interface LayerResult {
  /** sha256:<hex> of the compressed blob (the layer's digest in the manifest). */
  digest: string;
  /** sha256:<hex> of the uncompressed tar (the config's diff_id). */
  diffId: string;
  size: number;
}

class Hasher extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  constructor(private readonly progress?: (bytes: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.progress?.(this.bytes);
    this.push(chunk);
    callback();
  }
}

/**
 * Archives the rootfs as one gzip layer into `outFile`, hashing the tar stream and the
 * compressed stream on the way (one pass over the tree).
 */
export async function writeRootfsLayer(
  rootfs: string,
  outFile: string,
  epoch: number,
  options: { log: BuildLog; signal: AbortSignal },
): Promise<LayerResult> {
  const tarArgs = reproducibleTarArgs(rootfs, epoch, {
    exclude: EXCLUDED_CONTENTS.map((dir) => `./${dir}/*`),
  });
  return compressStream('tar', tarArgs, outFile, { ...options, progress: byteProgressOf(options.log, 'pigz of the rootfs'), total: treeShape(rootfs).bytes });
}

/**
 * Runs `command args | pigz > outFile`, returning both digests. `progress` is told the
 * bytes fed to pigz (of `total`, an estimate of the tar's size, when given).
 */
export async function compressStream(
  command: string,
  args: string[],
  outFile: string,
  options: { log: BuildLog; signal: AbortSignal; progress?: ByteProgress; total?: number },
): Promise<LayerResult> {
  const { log, signal } = options;
  if (signal.aborted) throw new InterruptedError(String(signal.reason ?? 'abort'));
  log.debug(`$ ${command} ${args.join(' ')} | ${GZIP_COMMAND.command} ${GZIP_COMMAND.args.join(' ')}`);
  const env = hostToolEnv();
  const producer = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env });
  const gzip = spawn(GZIP_COMMAND.command, GZIP_COMMAND.args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env });
  const children = [producer, gzip];
  const onAbort = () => children.forEach((child) => killGroup(child));
  signal.addEventListener('abort', onAbort, { once: true });
  const tarHash = new Hasher(options.progress && ((bytes) => options.progress!(bytes, options.total)));
  const blobHash = new Hasher();
  const exits = [waitFor(producer, command), waitFor(gzip, GZIP_COMMAND.command)];
  try {
    await Promise.all([
      pipeline(producer.stdout!, tarHash, gzip.stdin!),
      pipeline(gzip.stdout!, blobHash, createWriteStream(outFile)),
      ...exits,
    ]);
  } catch (error) {
    onAbort();
    await Promise.allSettled(exits);
    if (signal.aborted) throw new InterruptedError(String(signal.reason ?? 'abort'));
    if (error instanceof BuildError) throw error;
    throw new BuildError(`packing the container layer failed: ${(error as Error).message}`);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  return {
    digest: `sha256:${blobHash.hash.digest('hex')}`,
    diffId: `sha256:${tarHash.hash.digest('hex')}`,
    size: blobHash.bytes,
  };
}

function waitFor(child: ChildProcess, name: string): Promise<void> {
  const tail: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => {
    tail.push(...chunk.toString('utf8').split('\n').filter((line) => line.trim() !== ''));
    tail.splice(0, Math.max(0, tail.length - 20));
  });
  return new Promise((resolve, reject) => {
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(new BuildError(error.code === 'ENOENT' ? `${name}: command not found` : `${name}: ${error.message}`)),
    );
    child.on('close', (code, killedBy) => {
      if (code === 0) return resolve();
      const status = killedBy ? `killed by ${killedBy}` : `exit ${code}`;
      const last = tail.at(-1);
      reject(new BuildError(`${name} failed while packing the container layer (${status})${last ? `: ${last.trim()}` : ''}`, tail.join('\n')));
    });
  });
}

function killGroup(child: ChildProcess): void {
  if (!child.pid || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}
