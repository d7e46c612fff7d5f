import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { getText, putText } from './s3-objects';
import { indexKey } from './s3-keys';
import { StreamFile, streamFilesFromIndexes } from '../indexes/simplestreams';
import { parseIndex, TailorIndex } from '../indexes/tailor-index';

/**
 * The simplestreams files of a bucket (see docs/IMAGE_SERVER.md): the same
 * `streamFilesFromIndexes` the local store uses, over the tailor index of every release
 * label in the bucket (`<label>/images/index`), written to `streams/v1/images.json` then
 * `streams/v1/index.json` with the streams' short cache rule.
 *
 * Concurrent publishers: after writing, the indexes are read again and the files rebuilt;
 * if they differ (another publish changed an index after our read) they are written again,
 * until a re-read needs no change. A publisher whose write was stale therefore sees it on
 * its re-read, and the bucket settles on streams naming every indexed image.
 */
export interface BucketStreamsOptions {
  client: S3Client;
  bucket: string;
  signal?: AbortSignal;
  /** Rounds before giving up (default 20). */
  maxRounds?: number;
}

export interface BucketStreamsResult {
  files: StreamFile[];
  /** Objects written (0 when the bucket already held these exact files). */
  writes: number;
}

/** The top-level folders of a bucket but streams/: its release labels, sorted. */
export async function bucketReleaseLabels(options: BucketStreamsOptions): Promise<string[]> {
  const { client, bucket, signal } = options;
  const labels: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      // An explicit empty prefix: AWS evaluates an `s3:prefix` condition only when the
      // request carries one (ImageStore.grantStreams grants exactly this listing).
      new ListObjectsV2Command({ Bucket: bucket, Prefix: '', Delimiter: '/', ContinuationToken: token }),
      { abortSignal: signal },
    );
    for (const prefix of page.CommonPrefixes ?? []) {
      const label = prefix.Prefix?.replace(/\/$/, '');
      if (label && label !== 'streams') labels.push(label);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return labels.sort();
}

/** The release labels of a bucket with their tailor index (`<label>/images/index`), where they have one. */
export async function bucketIndexes(options: BucketStreamsOptions): Promise<{ releaseLabel: string; index: TailorIndex }[]> {
  const { client, bucket, signal } = options;
  const indexes: { releaseLabel: string; index: TailorIndex }[] = [];
  for (const releaseLabel of await bucketReleaseLabels(options)) {
    const key = indexKey(releaseLabel);
    const found = await getText(client, bucket, key, signal);
    if (found) indexes.push({ releaseLabel, index: parseIndex(found.text, `s3://${bucket}/${key}`) });
  }
  return indexes;
}

export async function rewriteBucketStreams(options: BucketStreamsOptions): Promise<BucketStreamsResult> {
  const { client, bucket, signal } = options;
  const maxRounds = options.maxRounds ?? 20;
  let writes = 0;
  for (let round = 0; round < maxRounds; round += 1) {
    const files = streamFilesFromIndexes(await bucketIndexes(options));
    let changed = false;
    for (const file of files) {
      const current = await getText(client, bucket, file.path, signal);
      if (current?.text === file.body) continue;
      await putText(client, bucket, file.path, file.body, { contentType: file.contentType, cacheControl: file.cacheControl, signal });
      writes += 1;
      changed = true;
    }
    if (!changed) return { files, writes };
  }
  throw new Error(`s3://${bucket}/streams/v1 did not settle after ${maxRounds} rounds (indexes kept changing)`);
}
