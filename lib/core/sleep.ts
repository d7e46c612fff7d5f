import { setTimeout as delay } from 'node:timers/promises';
import { InterruptedError } from './errors';

/** Waits `ms` milliseconds; an abort ends the wait at once with an InterruptedError. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, { signal });
  } catch (error) {
    if (signal?.aborted) throw new InterruptedError(String(signal.reason ?? 'SIGINT'));
    throw error;
  }
}
