import { spawn } from 'node:child_process';
import { closeSync, openSync, realpathSync, statSync } from 'node:fs';
import { BuildError, InterruptedError } from '../../../core/errors';
import { ByteProgress, watchReadPosition } from '../../../core/progress';

/**
 * The xz settings of a disk image, chosen from the table in docs/BENCHMARKS.md ("xz
 * presets and block sizes"): all cores (-T0, which splits the input into blocks and
 * compresses them in parallel), the preset and the block size given here.
 */
export const XZ_SETTINGS: readonly string[] = ['-T0', '-1', '--block-size=16MiB'];

/**
 * xz, streamed from the raw disk straight into the staging file. The sparse, zero-filled
 * free space costs almost nothing to compress. `progress` gets xz's position in the disk.
 */
export function compressXz(source: string, target: string, signal?: AbortSignal, progress?: ByteProgress): Promise<void> {
  if (signal?.aborted) return Promise.reject(new InterruptedError(String(signal.reason ?? 'abort')));
  const out = openSync(target, 'w');
  return new Promise<void>((resolve, reject) => {
    const child = spawn('xz', [...XZ_SETTINGS, '-c', '--', source], { stdio: ['ignore', out, 'pipe'], detached: true });
    const stopWatching = progress && child.pid
      ? watchReadPosition(child.pid, realpathSync(source), statSync(source).size, progress)
      : () => undefined;
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-2000)));
    const onAbort = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (error: NodeJS.ErrnoException) => {
      stopWatching();
      signal?.removeEventListener('abort', onAbort);
      closeSync(out);
      reject(new BuildError(error.code === 'ENOENT' ? 'xz: command xz not found (apt-get install xz-utils)' : `xz: ${error.message}`));
    });
    child.on('close', (code, killedBy) => {
      stopWatching();
      signal?.removeEventListener('abort', onAbort);
      closeSync(out);
      if (signal?.aborted) return reject(new InterruptedError(String(signal.reason ?? 'abort')));
      if (code === 0) return resolve();
      const last = stderr.trim().split('\n').at(-1) ?? '';
      reject(new BuildError(`xz failed (${killedBy ? `killed by ${killedBy}` : `exit ${code}`})${last ? `: ${last}` : ''}`));
    });
  });
}
