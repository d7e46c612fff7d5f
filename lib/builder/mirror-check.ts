import { BuildError } from '../errors';

/**
 * Checks that an APT archive answers for a suite before anything is downloaded: one small
 * request for its InRelease (or Release) file.
 */
export async function checkArchive(uri: string, suite: string, what: string, signal?: AbortSignal): Promise<void> {
  const base = `${uri.replace(/\/+$/, '')}/dists/${suite}`;
  let lastStatus = 0;
  for (const file of ['InRelease', 'Release']) {
    let response: Response;
    try {
      response = await fetch(`${base}/${file}`, {
        method: 'HEAD',
        redirect: 'follow',
        signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(20000)]) : AbortSignal.timeout(20000),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (error as Error).message;
      throw new BuildError(`${what} ${uri} is not reachable (${reason})`);
    }
    if (response.ok) return;
    lastStatus = response.status;
  }
  throw new BuildError(`${what} ${uri} has no suite "${suite}" (HTTP ${lastStatus} for ${base}/Release)`);
}
