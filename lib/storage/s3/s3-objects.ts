import { createHash } from 'node:crypto';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  HeadObjectCommandOutput,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { isMissingKey, isNotFoundError, s3StatusOf } from '../../core/s3-missing';

/** Small typed helpers over the S3 API: text objects, listings and the errors that matter. */

interface S3ErrorLike {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

export const isNotFound = isNotFoundError;

/** A conditional write lost: 412, or S3's 409 for a conflicting concurrent conditional write. */
export function isConditionFailed(error: unknown): boolean {
  const e = error as S3ErrorLike | undefined;
  return (
    s3StatusOf(error) === 412 || s3StatusOf(error) === 409 ||
    e?.name === 'PreconditionFailed' || e?.name === 'ConditionalRequestConflict'
  );
}

/**
 * The request's answer, or undefined when the key does not exist: a 404, or a 403 that a
 * listing of the key shows to be a missing key (see lib/core/s3-missing.ts: without an
 * unconditional s3:ListBucket, S3 answers a missing key with 403).
 */
async function unlessMissing<T>(client: S3Client, bucket: string, key: string, request: Promise<T>, signal?: AbortSignal): Promise<T | undefined> {
  try {
    return await request;
  } catch (error) {
    if (await isMissingKey(client, bucket, key, error, signal)) return undefined;
    throw error;
  }
}

/** HeadObject, or undefined when there is no such object. */
export function headOrUndefined(client: S3Client, bucket: string, key: string, signal?: AbortSignal): Promise<HeadObjectCommandOutput | undefined> {
  return unlessMissing(client, bucket, key, client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal }), signal);
}

export interface TextObject {
  text: string;
  etag: string;
}

export async function getText(client: S3Client, bucket: string, key: string, signal?: AbortSignal): Promise<TextObject | undefined> {
  const out = await unlessMissing(client, bucket, key, client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal }), signal);
  if (!out) return undefined;
  const text = (await out.Body?.transformToString('utf8')) ?? '';
  return { text, etag: out.ETag ?? '' };
}

export interface PutTextOptions {
  contentType: string;
  cacheControl: string;
  ifMatch?: string;
  ifNoneMatch?: '*';
  signal?: AbortSignal;
}

/** Writes a small object in one PUT with Content-MD5 (verified by S3 and S3-compatible servers alike). */
export async function putText(client: S3Client, bucket: string, key: string, text: string | Buffer, options: PutTextOptions): Promise<string> {
  const body = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  const out = await client.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: body,
      ContentLength: body.length,
      ContentMD5: createHash('md5').update(body).digest('base64'),
      ContentType: options.contentType,
      CacheControl: options.cacheControl,
      ...(options.ifMatch !== undefined ? { IfMatch: options.ifMatch } : {}),
      ...(options.ifNoneMatch ? { IfNoneMatch: options.ifNoneMatch } : {}),
    }),
    { abortSignal: options.signal },
  );
  return out.ETag ?? '';
}

export interface ListedObject {
  key: string;
  size: number;
  lastModified?: Date;
}

export async function listObjects(client: S3Client, bucket: string, prefix: string, signal?: AbortSignal): Promise<ListedObject[]> {
  const out: ListedObject[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      { abortSignal: signal },
    );
    for (const item of page.Contents ?? []) {
      if (item.Key) out.push({ key: item.Key, size: item.Size ?? 0, lastModified: item.LastModified });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

export interface ListedVersion {
  key: string;
  versionId?: string;
  deleteMarker: boolean;
}

/** Every version and delete marker under a prefix (a bucket without versioning lists one "null" version per key). */
export async function listVersions(client: S3Client, bucket: string, prefix: string, signal?: AbortSignal): Promise<ListedVersion[]> {
  const out: ListedVersion[] = [];
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  for (;;) {
    const page = await client.send(
      new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker: keyMarker, VersionIdMarker: versionMarker }),
      { abortSignal: signal },
    );
    for (const v of page.Versions ?? []) if (v.Key) out.push({ key: v.Key, versionId: v.VersionId, deleteMarker: false });
    for (const m of page.DeleteMarkers ?? []) if (m.Key) out.push({ key: m.Key, versionId: m.VersionId, deleteMarker: true });
    if (!page.IsTruncated) return out;
    keyMarker = page.NextKeyMarker;
    versionMarker = page.NextVersionIdMarker;
  }
}

/** Deletes one object version (or the current object when versionId is absent); gone already is fine. */
export async function deleteObject(client: S3Client, bucket: string, key: string, versionId?: string, signal?: AbortSignal): Promise<void> {
  try {
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }), { abortSignal: signal });
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

/** Runs fn over items with at most `limit` at a time. */
export async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++];
      await fn(item);
    }
  });
  await Promise.all(workers);
}
