import { BuildLog, silentLog } from '../../lib/core/log';

/** A log that keeps the warnings (what a store says without failing). */
export function collectingLog(): BuildLog & { warnings: string[] } {
  const warnings: string[] = [];
  return { ...silentLog, warn: (m) => warnings.push(m), warnings };
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure');
}

/** A build timestamp `days` (and an hour, and `serial` seconds) before now, in the UTC reading the index uses. */
export function daysAgo(days: number, serial = 0): string {
  const d = new Date(Date.now() - days * 86400000 - 3600000 - serial * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}.${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}
