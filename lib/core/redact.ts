/**
 * Credentials in URLs never reach a message, a log line or argv: every URL that is shown
 * is shown redacted, `scheme://***@host/path`, with the values of secret-looking query
 * parameters (`?token=***`) hidden too. The user name goes with the password: tokens are
 * often passed as the user name alone.
 */

const HIDDEN = '***';

/**
 * A run of text that starts like a URL (`scheme://`) and ends at whitespace or a quote.
 * The scheme is bounded so that long runs of letters cost linear time, not quadratic.
 */
const URL_TOKEN = /[A-Za-z][A-Za-z0-9+.-]{0,31}:\/\/[^\s"'<>`]*/g;

/** Query parameters whose values are secrets (presigned S3 URLs, OAuth, basic tokens). */
const SECRET_PARAMETER = /token|secret|passw|pwd|signature|credential|key|auth|^sig$/i;

/** One URL (or a string that only looks like one), with its credentials hidden. */
export function redactUrl(url: string): string {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]{0,31}:\/\//.exec(url);
  if (!scheme) return url;
  const head = scheme[0];
  let rest = url.slice(head.length);
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
  const lastAt = rest.lastIndexOf('@');
  if (authority.includes('@')) {
    // user:password@host — everything before the last "@" of the authority is userinfo.
    rest = `${HIDDEN}${rest.slice(authority.lastIndexOf('@'))}`;
  } else if (lastAt !== -1 && /:[^0-9]/.test(authority)) {
    // "user:pa/ss@host": a password holding "/" ends the authority early; hide up to the "@".
    rest = `${HIDDEN}${rest.slice(lastAt)}`;
  }
  return `${head}${redactQuery(rest)}`;
}

function redactQuery(rest: string): string {
  const query = rest.indexOf('?');
  if (query === -1) return rest;
  const fragment = rest.indexOf('#', query);
  const end = fragment === -1 ? rest.length : fragment;
  const parameters = rest
    .slice(query + 1, end)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq === -1) return pair;
      const name = pair.slice(0, eq);
      return SECRET_PARAMETER.test(safeDecode(name)) ? `${name}=${HIDDEN}` : pair;
    });
  return `${rest.slice(0, query + 1)}${parameters.join('&')}${rest.slice(end)}`;
}

/** Every URL in a free text (an error message, a log line, a command line), redacted. */
export function redactUrls(text: string): string {
  return text.replace(URL_TOKEN, (url) => redactUrl(url));
}

export interface UrlCredentials {
  login: string;
  password: string;
}

/**
 * Splits the credentials off a URL: the URL without them (to fetch, print or write into a
 * source line) and the login and password (to send in a header or an auth.conf file).
 * Escapes that do not decode are taken as written. Throws TypeError when it is no URL.
 */
export function splitCredentials(url: string): { url: string; credentials?: UrlCredentials } {
  const parsed = new URL(url);
  if (!parsed.username && !parsed.password) return { url };
  const credentials = { login: safeDecode(parsed.username), password: safeDecode(parsed.password) };
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.toString(), credentials };
}

/** decodeURIComponent that leaves a malformed escape as written instead of throwing. */
export function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** True when every %-escape in the text decodes (decodeURIComponent would not throw). */
export function escapesDecode(text: string): boolean {
  try {
    decodeURIComponent(text);
    return true;
  } catch {
    return false;
  }
}
