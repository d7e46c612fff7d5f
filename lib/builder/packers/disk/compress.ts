import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { BuildError, InterruptedError } from '../../../core/errors';

/**
 * xz on all cores, streamed from the raw disk straight into the staging file. The sparse,
 * zero-filled free space costs almost nothing to compress.
 */
export function compressXz(source: string, target: string, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(new InterruptedError(String(signal.reason ?? 'abort')));
  const out = openSync(target, 'w');
  return new Promise<void>((resolve, reject) => {
    const child = spawn('xz', ['-T0', '-c', '--', source], { stdio: ['ignore', out, 'pipe'], detached: true });
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
      signal?.removeEventListener('abort', onAbort);
      closeSync(out);
      reject(new BuildError(error.code === 'ENOENT' ? 'xz: command xz not found (apt-get install xz-utils)' : `xz: ${error.message}`));
    });
    child.on('close', (code, killedBy) => {
      signal?.removeEventListener('abort', onAbort);
      closeSync(out);
      if (signal?.aborted) return reject(new InterruptedError(String(signal.reason ?? 'abort')));
      if (code === 0) return resolve();
      const last = stderr.trim().split('\n').at(-1) ?? '';
      reject(new BuildError(`xz failed (${killedBy ? `killed by ${killedBy}` : `exit ${code}`})${last ? `: ${last}` : ''}`));
    });
  });
}
