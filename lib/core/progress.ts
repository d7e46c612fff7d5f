import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { BuildLog } from './log';

/** Bytes done of a long step so far (and of how many, when that is known). */
export type ByteProgress = (done: number, total?: number) => void;

/**
 * The progress callback of a long step (packing, an upload, a snapshot) reported to
 * `log` under `what`; the display decides how it looks and how often. A log that shows
 * no progress gets none.
 */
export function byteProgressOf(log: BuildLog, what: string): ByteProgress {
  return (done, total) => log.progress?.(what, done, total);
}

/**
 * Reports how far process `pid` has read the file `path` (its file offset, from
 * /proc/<pid>/fdinfo), every `intervalMs`, until the returned stop function is called.
 * For a compressor given a file by name: its input position is the work done.
 */
export function watchReadPosition(pid: number, path: string, total: number, progress: ByteProgress, intervalMs = 500): () => void {
  let fd: string | undefined;
  const poll = () => {
    try {
      fd ??= readdirSync(`/proc/${pid}/fd`).find((entry) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${entry}`) === path;
        } catch {
          return false;
        }
      });
      if (fd === undefined) return;
      const position = /^pos:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (position) progress(Number(position[1]), total);
    } catch {
      /* the process is gone or not yet there */
    }
  };
  const timer = setInterval(poll, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
