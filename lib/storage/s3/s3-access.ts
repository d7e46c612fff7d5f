import { randomUUID } from 'node:crypto';
import {
  AbortMultipartUploadCommand, CreateMultipartUploadCommand, ListObjectsV2Command, ListObjectVersionsCommand, S3Client,
} from '@aws-sdk/client-s3';
import { STREAMS_INDEX_PATH } from '../indexes/simplestreams';
import { bucketReleaseLabels } from './bucket-streams';
import { imagesPrefix, indexKey } from './s3-keys';
import { getText } from './s3-objects';

/**
 * Tries, before any work, every call a publish or a cleanup of one release makes that can
 * be tried without changing anything, so a refused one fails first, naming the call and
 * the key or prefix (the client says which, lib/core/s3-client.ts):
 *   - the listing of the release prefix (and, for cleanup, of its versions);
 *   - reading the release's index (missing is fine: told from refused by a listing);
 *   - writing under the release prefix: a multipart upload started and aborted at once;
 *   - what the simplestreams rewrite does: list the release folders, read each index, read
 *     and write streams/v1/.
 * Deleting cannot be tried without deleting: cleanup's first delete is its first change.
 */
export async function checkReleaseAccess(
  client: S3Client,
  bucket: string,
  releaseLabel: string,
  options: { versions?: boolean; signal?: AbortSignal } = {},
): Promise<void> {
  const { signal } = options;
  const prefix = imagesPrefix(releaseLabel);
  await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1 }), { abortSignal: signal });
  if (options.versions) {
    await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix, MaxKeys: 1 }), { abortSignal: signal });
  }
  await getText(client, bucket, indexKey(releaseLabel), signal);
  const probe = `.tailor-image-verify-${randomUUID()}`;
  await probeWrite(client, bucket, `${prefix}${probe}`, signal);
  for (const other of await bucketReleaseLabels({ client, bucket, signal })) await getText(client, bucket, indexKey(other), signal);
  await getText(client, bucket, STREAMS_INDEX_PATH, signal);
  await probeWrite(client, bucket, `streams/v1/${probe}`, signal);
}

/**
 * Tries s3:PutObject on a key without writing it: a multipart upload is started and
 * aborted at once (s3:AbortMultipartUpload), so nothing is left in the bucket.
 */
export async function probeWrite(client: S3Client, bucket: string, key: string, signal?: AbortSignal): Promise<void> {
  const started = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
  await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: started.UploadId }), { abortSignal: signal });
}
