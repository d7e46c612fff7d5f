import { BuildError, InterruptedError } from '../core/errors';
import { redactUrl, redactUrls, splitCredentials, UrlCredentials } from '../core/redact';

/**
 * Checks that an APT archive answers for a suite before anything is downloaded: one small
 * request for its InRelease (or Release) file.
 */
export async function checkArchive(
  uri: string,
  suite: string,
  what: string,
  signal?: AbortSignal,
  credentials?: UrlCredentials,
): Promise<void> {
  // Credentials travel in a header, never in a URL that is fetched or printed.
  let bare = uri;
  let login = credentials;
  try {
    const split = splitCredentials(uri);
    bare = split.url;
    login ??= split.credentials;
  } catch {
    // not a URL: fetch says so below
  }
  const shown = redactUrl(uri);
  const headers: Record<string, string> = login
    ? { Authorization: `Basic ${Buffer.from(`${login.login}:${login.password}`).toString('base64')}` }
    : {};
  const base = `${bare.replace(/\/+$/, '')}/dists/${suite}`;
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
      if (signal?.aborted) throw new InterruptedError(String(signal.reason));
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (error as Error).message;
      // fetch refuses some ports that apt does not (e.g. 6000); apt will tell then.
      if (/bad port/i.test(reason)) return;
      throw new BuildError(`${what} ${shown} is not reachable (${redactUrls(reason)})`);
    }
    if (response.ok) return;
    lastStatus = response.status;
  }
  throw new BuildError(`${what} ${shown} has no suite "${suite}" (HTTP ${lastStatus} for ${redactUrl(base)}/Release)`);
}
