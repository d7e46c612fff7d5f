import { createHash, randomUUID } from 'node:crypto';
import { CompleteSnapshotCommand, EBSClient, PutSnapshotBlockCommand, StartSnapshotCommand } from '@aws-sdk/client-ebs';
import { BuildLog } from '../../core/log';
import { byteProgressOf } from '../../core/progress';
import { sleep } from '../../core/sleep';
import { Tag } from './ami-tags';
import { diskBlocks, isZeroBlock, openRawDisk, rawDiskSize, SNAPSHOT_BLOCK_SIZE } from './raw-disk';

const GIB = 1024 ** 3;

export interface SnapshotUploadOptions {
  ebs: EBSClient;
  /** The raw disk: a `.raw.xz` (read through `xz -dc`) or a raw file. */
  path: string;
  tags: Tag[];
  description: string;
  /** Blocks in flight at once. */
  concurrency?: number;
  /** Tries of one block before the upload fails. */
  attempts?: number;
  /** Wait before the n-th retry of a block: n × this. */
  retryDelayMs?: number;
  /** Told the snapshot's id as soon as it exists (so a failure can delete it). */
  onStarted?: (snapshotId: string) => void;
  log: BuildLog;
  signal?: AbortSignal;
}

export interface SnapshotUploadResult {
  snapshotId: string;
  volumeSizeGiB: number;
  /** Bytes of the raw disk and their sha256 (hex). */
  rawSize: number;
  rawSha256: string;
  /** Blocks of the disk, blocks sent, blocks skipped as zeros. */
  blocks: number;
  sentBlocks: number;
  zeroBlocks: number;
}

export const DEFAULT_BLOCK_CONCURRENCY = 16;
const DEFAULT_ATTEMPTS = 6;

/** Errors a retry cannot mend. */
function permanent(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'AccessDeniedException' || e?.$metadata?.httpStatusCode === 403;
}

/**
 * Uploads a raw disk as an EBS snapshot through the EBS direct APIs, as AWS's coldsnap
 * does: StartSnapshot (tagged), the disk read once as a stream in 512 KiB blocks, each
 * non-zero block put with its base64 SHA256 (a bounded number in flight, each retried with
 * a growing wait), zero blocks skipped (a snapshot reads unwritten blocks as zeros), then
 * CompleteSnapshot with the number of blocks sent and the LINEAR aggregate: the SHA256 of
 * the sent blocks' SHA256 digests concatenated in block order. The snapshot is then
 * `pending` until EBS has it: see waitForSnapshot (ami-register.ts).
 */
export async function uploadSnapshot(options: SnapshotUploadOptions): Promise<SnapshotUploadResult> {
  const { ebs, log, signal } = options;
  const rawSize = await rawDiskSize(options.path, log, signal);
  const volumeSizeGiB = Math.max(1, Math.ceil(rawSize / GIB));
  const started = await ebs.send(
    new StartSnapshotCommand({ VolumeSize: volumeSizeGiB, Tags: options.tags, Description: options.description, Timeout: 60, ClientToken: randomUUID() }),
    { abortSignal: signal },
  );
  const snapshotId = started.SnapshotId;
  if (!snapshotId) throw new Error('StartSnapshot answered without a SnapshotId');
  options.onStarted?.(snapshotId);
  if (started.BlockSize !== undefined && started.BlockSize !== SNAPSHOT_BLOCK_SIZE) {
    throw new Error(`StartSnapshot ${snapshotId} has ${started.BlockSize}-byte blocks; the uploader writes ${SNAPSHOT_BLOCK_SIZE}`);
  }
  log.debug(`ebs: started ${snapshotId} (${volumeSizeGiB} GiB)`);

  const concurrency = Math.max(1, options.concurrency ?? DEFAULT_BLOCK_CONCURRENCY);
  const attempts = Math.max(1, options.attempts ?? DEFAULT_ATTEMPTS);
  const retryDelayMs = options.retryDelayMs ?? 1000;
  const digests = new Map<number, Buffer>();
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let blocks = 0;
  let zeroBlocks = 0;
  const rawHash = createHash('sha256');

  const put = async (index: number, data: Buffer, digest: Buffer): Promise<void> => {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await ebs.send(
          new PutSnapshotBlockCommand({
            SnapshotId: snapshotId, BlockIndex: index, BlockData: data, DataLength: data.length,
            Checksum: digest.toString('base64'), ChecksumAlgorithm: 'SHA256',
          }),
          { abortSignal: signal },
        );
        return;
      } catch (error) {
        if (signal?.aborted || permanent(error) || attempt >= attempts) throw error;
        log.debug(`ebs: block ${index} of ${snapshotId} refused (${(error as Error).name ?? error}); retry ${attempt}`);
        await sleep(retryDelayMs * attempt, signal);
      }
    }
  };

  // Bytes of the raw disk read and queued, of its size: the display shows rate and time left.
  const progress = byteProgressOf(log, `snapshot ${snapshotId}`);
  const source = openRawDisk(options.path, signal);
  try {
    for await (const { index, data } of diskBlocks(source)) {
      if (failure) break;
      blocks += 1;
      progress(Math.min(blocks * SNAPSHOT_BLOCK_SIZE, rawSize), rawSize);
      rawHash.update(data.subarray(0, Math.min(SNAPSHOT_BLOCK_SIZE, rawSize - index * SNAPSHOT_BLOCK_SIZE)));
      if (isZeroBlock(data)) {
        zeroBlocks += 1;
        continue;
      }
      const digest = createHash('sha256').update(data).digest();
      digests.set(index, digest);
      const task: Promise<void> = put(index, data, digest)
        .catch((error: unknown) => {
          failure ??= error;
        })
        .finally(() => inFlight.delete(task));
      inFlight.add(task);
      if (inFlight.size >= concurrency) await Promise.race(inFlight);
    }
  } finally {
    await Promise.all(inFlight);
    source.destroy();
  }
  if (failure) throw failure;
  if (blocks * SNAPSHOT_BLOCK_SIZE < rawSize) throw new Error(`${options.path} ended after ${blocks * SNAPSHOT_BLOCK_SIZE} of ${rawSize} bytes`);

  const linear = createHash('sha256');
  for (const index of [...digests.keys()].sort((a, b) => a - b)) linear.update(digests.get(index)!);
  await ebs.send(
    new CompleteSnapshotCommand({
      SnapshotId: snapshotId, ChangedBlocksCount: digests.size,
      Checksum: linear.digest('base64'), ChecksumAlgorithm: 'SHA256', ChecksumAggregationMethod: 'LINEAR',
    }),
    { abortSignal: signal },
  );
  log.debug(`ebs: completed ${snapshotId}: ${digests.size} block(s) sent, ${zeroBlocks} zero block(s) skipped`);
  return { snapshotId, volumeSizeGiB, rawSize, rawSha256: rawHash.digest('hex'), blocks, sentBlocks: digests.size, zeroBlocks };
}
