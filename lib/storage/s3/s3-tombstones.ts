import { S3Client } from '@aws-sdk/client-s3';
import { IndexSlot } from '../indexes/tailor-index';
import { imageNameOfRemovedKey, removedKey, removedPrefix } from './s3-keys';
import { forEachLimited, listObjects, putText } from './s3-objects';

/**
 * Tombstones: `<label>/images/removed/<image_name>.json`, one small object per image that a
 * cleanup removed (or a publisher withdrew after losing its slot). Every index writer drops
 * tombstoned images from the index it writes and never merges their entry objects, so the
 * merge only ever moves one way: a writer that read the index before a cleanup (where the
 * server has no conditional writes, its write lands anyway) can put a removed entry back
 * for one round at most, and its own read-back round takes it out again.
 *
 * They live beside the index, not in it: consumers of the tailor index walk every top-level
 * key as a timestamp, so a new key there would be misread. A tombstone is listed (never
 * HEAD-checked: without s3:ListBucket AWS answers 403 for a missing key) and kept; each one
 * is about 200 bytes.
 */
export interface TombstoneOptions {
  client: S3Client;
  bucket: string;
  releaseLabel: string;
  signal?: AbortSignal;
}

export const TOMBSTONE_CACHE_CONTROL = 'no-cache';

export interface Tombstone {
  file: string;
  slot: IndexSlot;
  /** "cleanup" or "withdrawn" (a publisher that lost its slot). */
  reason: 'cleanup' | 'withdrawn';
}

export async function putTombstones(options: TombstoneOptions, tombstones: Tombstone[]): Promise<void> {
  const removedAt = new Date().toISOString();
  await forEachLimited(tombstones, 8, async (tombstone) => {
    const body = `${JSON.stringify({ version: 1, ...tombstone, removed_at: removedAt }, null, 2)}\n`;
    await putText(options.client, options.bucket, removedKey(options.releaseLabel, tombstone.file), body, {
      contentType: 'application/json',
      cacheControl: TOMBSTONE_CACHE_CONTROL,
      signal: options.signal,
    });
  });
}

/** The image names with a tombstone in the release (all of them, or those starting with `prefix`). */
export async function listTombstoned(options: TombstoneOptions, prefix = ''): Promise<Set<string>> {
  const objects = await listObjects(options.client, options.bucket, `${removedPrefix(options.releaseLabel)}${prefix}`, options.signal);
  return new Set(objects.map((o) => imageNameOfRemovedKey(o.key, options.releaseLabel)).filter((n): n is string => n !== undefined));
}
