import { UsageError } from '../../core/errors';
import { quote } from '../../core/message-text';

/**
 * Where things live in the bucket, tailor's layout plus one folder of entry objects:
 *   <release_label>/images/<image_name>.<ext>       the image (immutable)
 *   <release_label>/images/<image_name>.md5|.sha256|.manifest|.spdx.json|.cdx.json
 *   <release_label>/images/SHA256SUMS|SHA256SUMS.gpg|index.gpg  with a signing key
 *   <release_label>/images/index                    the tailor index (the one mutable object)
 *   <release_label>/images/entries/<image_name>.json  one small immutable entry per image,
 *                                                   written after the image is verified
 *   <release_label>/images/removed/<image_name>.json  a tombstone: the image was removed by a
 *                                                   cleanup (or withdrawn), never to be indexed again
 */
export function imagesPrefix(releaseLabel: string): string {
  return `${releaseLabel}/images/`;
}

export function objectKey(releaseLabel: string, fileName: string): string {
  return `${imagesPrefix(releaseLabel)}${fileName}`;
}

export function indexKey(releaseLabel: string): string {
  return `${imagesPrefix(releaseLabel)}index`;
}

export function entriesPrefix(releaseLabel: string): string {
  return `${imagesPrefix(releaseLabel)}entries/`;
}

export function entryKey(releaseLabel: string, imageName: string): string {
  return `${entriesPrefix(releaseLabel)}${imageName}.json`;
}

export function removedPrefix(releaseLabel: string): string {
  return `${imagesPrefix(releaseLabel)}removed/`;
}

export function removedKey(releaseLabel: string, imageName: string): string {
  return `${removedPrefix(releaseLabel)}${imageName}.json`;
}

/** The image name a tombstone key names, or undefined for anything else under removed/. */
export function imageNameOfRemovedKey(key: string, releaseLabel: string): string | undefined {
  return imageNameUnder(removedPrefix(releaseLabel), key);
}

/** The image name an entry key names, or undefined for anything else under entries/. */
export function imageNameOfEntryKey(key: string, releaseLabel: string): string | undefined {
  return imageNameUnder(entriesPrefix(releaseLabel), key);
}

function imageNameUnder(prefix: string, key: string): string | undefined {
  if (!key.startsWith(prefix) || !key.endsWith('.json')) return undefined;
  const name = key.slice(prefix.length, -'.json'.length);
  return name && !name.includes('/') ? name : undefined;
}

const BUCKET_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** The bucket of `s3://bucket` (tailor's --apt-repo form; a trailing slash is fine). */
export function bucketOfS3Url(url: string, flag = '--apt-repo'): string {
  const match = /^s3:\/\/([^/]+)\/?$/.exec(url.trim());
  if (!match) throw new UsageError(`${flag} ${quote(url)} is not an S3 bucket URL (expected s3://bucket)`);
  if (match[1].includes('@')) throw new UsageError(`${flag} ${quote(url)} holds credentials; S3 is read with the host's AWS credentials`);
  return checkBucketName(match[1], flag);
}

export function checkBucketName(bucket: string, flag = '--apt-repo'): string {
  if (!BUCKET_PATTERN.test(bucket) || bucket.includes('..')) {
    throw new UsageError(`${flag}: ${quote(bucket)} is not a valid S3 bucket name`);
  }
  return bucket;
}
