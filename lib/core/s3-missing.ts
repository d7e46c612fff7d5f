import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';

/**
 * Telling a missing key from a refused one.
 *
 * S3 answers a HEAD or GET of a key that does not exist with 404 only when the caller may
 * list the bucket (s3:ListBucket); otherwise with 403, exactly as if the read itself were
 * refused. A least-privilege role's ListBucket is conditioned on `s3:prefix`, which a HEAD
 * or GET does not carry, so to such a role every missing key looks refused (Ceph RGW
 * behaves the same). The code therefore never relies on "404 means free": a 403 is followed
 * by a listing of exactly that key as a prefix, which the prefix-conditioned grant allows,
 * and only a listing that does not show the key makes it missing.
 */

interface S3ErrorLike {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

export function s3StatusOf(error: unknown): number | undefined {
  return (error as S3ErrorLike | undefined)?.$metadata?.httpStatusCode;
}

/** 404 / NoSuchKey / NotFound. */
export function isNotFoundError(error: unknown): boolean {
  const e = error as S3ErrorLike | undefined;
  return s3StatusOf(error) === 404 || e?.name === 'NoSuchKey' || e?.name === 'NotFound';
}

export function isAccessDenied(error: unknown): boolean {
  const e = error as S3ErrorLike | undefined;
  return s3StatusOf(error) === 403 || e?.name === 'AccessDenied' || e?.name === 'Forbidden';
}

/**
 * Whether a failed HEAD/GET of `key` means the key does not exist: a 404, or a 403 that a
 * listing of the key (as a prefix) shows to be a missing key. When that listing is refused
 * too, the original error's message says so (both calls named), and the answer is false:
 * the caller rethrows.
 */
export async function isMissingKey(client: S3Client, bucket: string, key: string, error: unknown, signal?: AbortSignal): Promise<boolean> {
  if (isNotFoundError(error)) return true;
  if (!isAccessDenied(error)) return false;
  try {
    const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 1 }), { abortSignal: signal });
    return !(listed.Contents ?? []).some((item) => item.Key === key);
  } catch (listError) {
    if (signal?.aborted) throw listError;
    const e = error as S3ErrorLike;
    const listed = (listError as S3ErrorLike).message ?? String(listError);
    if (e && typeof e === 'object') {
      e.message = `${e.message ?? 'AccessDenied'}; ${listed} (a missing key cannot be told from a refused one without s3:ListBucket on its prefix)`;
    }
    return false;
  }
}
