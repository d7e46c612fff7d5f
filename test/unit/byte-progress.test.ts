import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { formatBytes, formatDuration, formatProgress, TenthsThrottle } from '../../lib/cli/byte-progress';
import { createProgress } from '../../lib/cli/progress';
import { byteProgressOf, watchReadPosition } from '../../lib/core/progress';
import { silentLog } from '../../lib/core/log';

describe('byte progress: formatting', () => {
  test('bytes in binary units, three figures at most', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(412 * 2 ** 20)).toBe('412 MiB');
    expect(formatBytes(1.2 * 2 ** 30)).toBe('1.2 GiB');
    expect(formatBytes(15.25 * 2 ** 20)).toBe('15.3 MiB');
  });

  test('durations in seconds, minutes, hours', () => {
    expect(formatDuration(9.4)).toBe('9 s');
    expect(formatDuration(75)).toBe('1 min 15 s');
    expect(formatDuration(3 * 3600 + 120)).toBe('3 h 2 min');
  });

  test('done of total, rate and time left; no rate at the very start; no total, no percentage', () => {
    expect(formatProgress(300 * 2 ** 20, 1200 * 2 ** 20, 10_000)).toBe('300 MiB of 1.2 GiB (25%), 30 MiB/s, 30 s left');
    expect(formatProgress(5, 100, 100)).toBe('5 B of 100 B (5%)');
    expect(formatProgress(512 * 2 ** 20, undefined, 4000)).toBe('512 MiB, 128 MiB/s');
    expect(formatProgress(100, 100, 2000)).toBe('100 B of 100 B (100%), 50 B/s');
  });
});

describe('byte progress: how often plain logs show it', () => {
  test('once per tenth passed, never at 0% or 100%, never twice', () => {
    const throttle = new TenthsThrottle();
    const total = 1000;
    const shown = [0, 50, 99, 100, 150, 199, 250, 555, 560, 999, 1000].filter((done) => throttle.next(done, total));
    expect(shown).toEqual([100, 250, 555, 999]);
  });

  test('with no total, once per step', () => {
    const throttle = new TenthsThrottle(100);
    expect([10, 100, 120, 250, 260, 300].filter((done) => throttle.next(done))).toEqual([100, 250, 300]);
  });

  test('a plain log prints one line per tenth; a terminal shows the figures on the live line', async () => {
    const stream = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
    let text = '';
    stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const plain = createProgress(stream, 'normal', false);
    for (let done = 0; done <= 1000; done += 10) plain.progress!('xz wrangler.raw', done, 1000);
    const lines = text.trim().split('\n');
    expect(lines).toHaveLength(9);
    expect(lines[0]).toMatch(/Z xz wrangler\.raw: 100 B of 1000 B \(10%\)$/);

    text = '';
    const live = createProgress(stream, 'normal', true);
    live.stageStart('pack', 'bare_metal → .raw.xz');
    live.progress!('xz wrangler.raw', 250, 1000);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(text).toMatch(/pack +\d+\.\d s {2}xz wrangler\.raw: 250 B of 1000 B \(25%\)/);
    live.stageEnd('pack', true);
    live.stageStart('pack', 'again');
    live.progress!('upload x', 1, 2);
    live.close();
    expect(text).toContain('✓ pack');
    // Quiet shows none.
    text = '';
    const quiet = createProgress(stream, 'quiet', false);
    quiet.progress!('xz', 500, 1000);
    expect(text).toBe('');
  });

  test('a log without progress gets none (no error)', () => {
    expect(() => byteProgressOf(silentLog, 'x')(1, 2)).not.toThrow();
  });
});

describe('byte progress: a compressor\'s input position', () => {
  test('read from /proc while the process reads the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'read-position-'));
    try {
      const file = join(dir, 'input');
      writeFileSync(file, Buffer.alloc(4096));
      const child = spawn('python3', ['-c', 'import os,sys,time; fd=os.open(sys.argv[1], os.O_RDONLY); os.read(fd, 1000); time.sleep(1.5)', file]);
      const seen: [number, number | undefined][] = [];
      const stop = watchReadPosition(child.pid!, file, 4096, (done, total) => seen.push([done, total]), 50);
      await new Promise((resolve) => child.on('close', resolve));
      stop();
      expect(seen).toContainEqual([1000, 4096]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
