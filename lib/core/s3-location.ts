import { BuildError } from './errors';
import { quote } from './message-text';

/** An s3://bucket/prefix location (the org APT repository's form). */
export interface S3Location {
  bucket: string;
  /** The path below the bucket, without leading or trailing "/" (may be empty). */
  prefix: string;
}

export function parseS3Url(url: string): S3Location {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!match || !match[1] || match[1].includes('@')) throw new BuildError(`${quote(url)} is not an s3://bucket[/prefix] address`);
  return { bucket: match[1], prefix: match[2].replace(/\/+$/, '') };
}
