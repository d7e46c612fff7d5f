/** How much of a long step is done, as the display shows it. */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 → "1.5 KiB", 1288490188 → "1.2 GiB" (three significant figures at most). */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const text = unit === 0 || value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1).replace(/\.0$/, '') : value.toFixed(1);
  return `${text} ${UNITS[unit]}`;
}

/** 75 → "1 min 15 s", 9.4 → "9 s". */
export function formatDuration(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds));
  if (whole < 60) return `${whole} s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes} min ${whole % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/**
 * "412 MiB of 1.2 GiB (34%), 85 MiB/s, 10 s left" from bytes done, the total (when
 * known) and the time since the step began; no rate until some time has passed.
 */
export function formatProgress(done: number, total: number | undefined, elapsedMs: number): string {
  const parts = [total ? `${formatBytes(done)} of ${formatBytes(total)} (${Math.min(100, Math.floor((done / total) * 100))}%)` : formatBytes(done)];
  if (elapsedMs >= 500 && done > 0) {
    const rate = done / (elapsedMs / 1000);
    parts.push(`${formatBytes(rate)}/s`);
    if (total && total > done) parts.push(`${formatDuration((total - done) / rate)} left`);
  }
  return parts.join(', ');
}

/**
 * When a plain log (no terminal) should print a progress line: at each tenth of the
 * total passed (10%..90%), or, with no total known, at each further `step` bytes.
 */
export class TenthsThrottle {
  private last = 0;

  constructor(private readonly step = 256 * 2 ** 20) {}

  /** Whether this report starts a new tenth (or step); each one is reported once. */
  next(done: number, total?: number): boolean {
    const mark = total ? Math.floor((done / total) * 10) : Math.floor(done / this.step);
    if (mark <= this.last || (total !== undefined && mark >= 10)) return false;
    this.last = mark;
    return true;
  }
}
