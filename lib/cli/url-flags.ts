import { UsageError } from '../core/errors';
import { quote } from '../core/message-text';
import { escapesDecode } from '../core/redact';
import { checkBucketName } from '../storage/s3/s3-keys';

/**
 * The URL flags of create_image, checked when the flags are read (before any work), with
 * every echo of them redacted (quote() hides credentials).
 */

/** --apt-repo: http(s):// (credentials allowed: they go to auth.conf, never to a source line) or s3://bucket[/prefix]. */
export function checkAptRepoUrl(value: string, flag = '--apt-repo'): string {
  if (/^s3:\/\//i.test(value)) {
    const bucket = value.slice('s3://'.length).split('/')[0];
    if (bucket.includes('@') || bucket.includes(':')) {
      throw new UsageError(`${flag} ${quote(value)} holds credentials; an s3:// repository is read with the host's AWS credentials`);
    }
    checkBucketName(bucket, flag);
    return value;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${flag} ${quote(value)} is not a URL (http://, https:// or s3://)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${flag} ${quote(value)} must be http://, https:// or s3://`);
  }
  if (!escapesDecode(url.username) || !escapesDecode(url.password)) {
    throw new UsageError(`${flag} ${quote(value)} has a malformed %-escape in its user name or password`);
  }
  return value;
}

/**
 * --mirror / --security-mirror: an http(s):// archive without credentials (mirror URLs go
 * into mmdebstrap's command line and the image's apt sources, where no secret may go);
 * "none" leaves the security archive out.
 */
export function checkMirrorUrl(flag: '--mirror' | '--security-mirror', value: string): string {
  if (value === 'none' && flag === '--security-mirror') return value;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url?.protocol === 'file:') {
    throw new UsageError(
      `${flag} ${quote(value)}: file:// mirrors are not supported (apt inside the image cannot read the host's folder); serve it over http://`,
    );
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !/^https?:\/\//i.test(value)) {
    throw new UsageError(`${flag} ${quote(value)} is not an http(s):// URL`);
  }
  if (url.username || url.password) {
    throw new UsageError(
      `${flag} ${quote(value)} must not hold credentials (mirror URLs are written into the image's apt sources)`,
    );
  }
  return value;
}
