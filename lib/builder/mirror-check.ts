import { BuildError } from '../core/errors';

/**
 * Checks that an APT archive answers for a suite before anything is downloaded: one small
 * request for its InRelease (or Release) file.
 */
export async function checkArchive(
  uri: string,
  suite: string,
  what: string,
  signal?: AbortSignal,
  credentials?: { login: string; password: string },
): Promise<void> {
  // Credentials travel in a header, so no URL that holds them is ever built or printed.
  const headers: Record<string, string> = credentials
    ? { Authorization: `Basic ${Buffer.from(`${credentials.login}:${credentials.password}`).toString('base64')}` }
    : {};
  const base = `${uri.replace(/\/+$/, '')}/dists/${suite}`;
  let lastStatus = 0;
  for (const file of ['InRelease', 'Release']) {
    let response: Response;
    try {
      response = await fetch(`${base}/${file}`, {
        method: 'HEAD',
        redirect: 'follow',
        headers,
        signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(20000)]) : AbortSignal.timeout(20000),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (error as Error).message;
      // fetch refuses some ports that apt does not (e.g. 6000); apt will tell then.
      if (/bad port/i.test(reason)) return;
      throw new BuildError(`${what} ${uri} is not reachable (${reason})`);
    }
    if (response.ok) return;
    lastStatus = response.status;
  }
  throw new BuildError(`${what} ${uri} has no suite "${suite}" (HTTP ${lastStatus} for ${base}/Release)`);
}
