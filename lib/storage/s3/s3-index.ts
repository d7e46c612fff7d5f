import { S3Client } from '@aws-sdk/client-s3';
import { BuildLog } from '../../core/log';
import { sleep } from '../../core/sleep';
import { entriesPrefix, entryKey, imageNameOfEntryKey, indexKey } from './s3-keys';
import { forEachLimited, getText, headOrUndefined, isConditionFailed, listObjects, putText } from './s3-objects';
import { listTombstoned } from './s3-tombstones';
import { entryAt, IndexEntry, IndexSlot, TailorIndex, listEntries, parseIndex, serializeIndex, withEntry, withoutImages } from '../indexes/tailor-index';

/**
 * The release index in S3, kept so that no publisher ever loses an entry:
 *
 * 1. Every image first gets its own small immutable entry object
 *    (`<label>/images/entries/<image>.json`), written only after the image's files were
 *    uploaded and verified. Entry objects never conflict: one writer each.
 * 2. The index is then read and merged: tombstoned images (s3-tombstones.ts) are dropped,
 *    and every entry object it does not name yet, oldest first, goes into its slot if that
 *    slot is free (one holding another image is never taken over: two images of one slot
 *    never replace each other, and the merge cannot flip between them). Then it is changed
 *    (the caller's mutation) and written back with a conditional PUT: `If-None-Match: *`
 *    to create it, `If-Match: <ETag>` to replace it. A lost race (412/409) re-reads and
 *    retries after a jittered exponential backoff, a bounded number of times.
 * 3. After a successful write the loop runs again and stops only when a fresh read needs
 *    no change. So even where the server ignores the conditions (some S3-compatible
 *    servers, Ceph RGW on versioned buckets), the last writer always sees and repairs what
 *    a racing writer dropped, and any later publish merges in entries left by a publisher
 *    that died before its index write.
 *
 * A publisher killed at any point leaves either nothing, objects no index names, or an
 * entry object naming a complete image; the index is one atomic PUT. Nothing is locked.
 *
 * If-Match form: S3 takes the ETag as returned (quoted). Ceph RGW rejects the quoted form
 * even when it is current and accepts the bare hex; on versioned buckets it rejects both
 * and ignores If-None-Match. A 412 whose object still has the ETag we sent is therefore
 * the server's mistake: the writer switches to the bare form, then to unconditional
 * writes (still safe, by step 3), and remembers that for its lifetime.
 */
export type ConditionMode = 'quoted' | 'bare' | 'unconditional';

export interface StoredEntry {
  slot: IndexSlot;
  entry: IndexEntry;
}

export interface IndexUpdateResult {
  index: TailorIndex;
  /** Index PUTs that succeeded. */
  writes: number;
  /** Reads of the index (one per round). */
  rounds: number;
  /** Writes that lost a race. */
  conflicts: number;
}

export interface S3IndexOptions {
  client: S3Client;
  bucket: string;
  releaseLabel: string;
  log: BuildLog;
  signal?: AbortSignal;
  /** Rounds (read, merge, write) before giving up. */
  maxRounds?: number;
  /** Backoff base and cap in ms. */
  backoffMs?: { base: number; cap: number };
  cacheControl?: string;
}

export const INDEX_CACHE_CONTROL = 'public, max-age=60, must-revalidate';
export const ENTRY_CACHE_CONTROL = 'no-cache';


function isStoredEntry(value: unknown): value is StoredEntry {
  const v = value as StoredEntry | undefined;
  const s = v?.slot;
  return (
    typeof s?.timestamp === 'string' && typeof s.key === 'string' && typeof s.name === 'string' &&
    typeof s.distribution === 'string' && typeof v?.entry?.file === 'string' && typeof v.entry.checksum === 'string'
  );
}

export function serializeEntry(stored: StoredEntry): string {
  return `${JSON.stringify({ version: 1, slot: stored.slot, entry: stored.entry }, null, 2)}\n`;
}

/** Writes an image's entry object (after its files are verified). */
export async function putEntryObject(options: S3IndexOptions, stored: StoredEntry): Promise<string> {
  const key = entryKey(options.releaseLabel, stored.entry.file);
  await putText(options.client, options.bucket, key, serializeEntry(stored), {
    contentType: 'application/json',
    cacheControl: ENTRY_CACHE_CONTROL,
    signal: options.signal,
  });
  return key;
}

/** An entry object as listed: the image it names and when it was written. */
export interface ListedEntry {
  name: string;
  lastModified: number;
}

/** The entry objects of the release. */
export async function listEntryObjects(options: S3IndexOptions): Promise<ListedEntry[]> {
  const objects = await listObjects(options.client, options.bucket, entriesPrefix(options.releaseLabel), options.signal);
  return objects.flatMap((o) => {
    const name = imageNameOfEntryKey(o.key, options.releaseLabel);
    return name === undefined ? [] : [{ name, lastModified: o.lastModified?.getTime() ?? 0 }];
  });
}

export async function readEntryObject(options: S3IndexOptions, imageName: string): Promise<StoredEntry | undefined> {
  const key = entryKey(options.releaseLabel, imageName);
  const found = await getText(options.client, options.bucket, key, options.signal);
  if (!found) return undefined;
  try {
    const value: unknown = JSON.parse(found.text);
    if (isStoredEntry(value) && value.entry.file === imageName) return { slot: value.slot, entry: value.entry };
  } catch {
    /* reported below */
  }
  options.log.warn(`ignoring s3://${options.bucket}/${key}: not an image entry`);
  return undefined;
}

export async function readS3Index(options: S3IndexOptions): Promise<{ index: TailorIndex; etag?: string }> {
  const key = indexKey(options.releaseLabel);
  const found = await getText(options.client, options.bucket, key, options.signal);
  if (!found) return { index: {} };
  return { index: parseIndex(found.text, `s3://${options.bucket}/${key}`), etag: found.etag };
}

/** Every image name the index names. */
export function namesIn(index: TailorIndex): Set<string> {
  return new Set(listEntries(index).map(({ entry }) => entry.file));
}

export class S3IndexWriter {
  private mode: ConditionMode;

  /** `mode`: what an earlier writer for the same server learnt (see above). */
  constructor(private readonly options: S3IndexOptions, mode: ConditionMode = 'quoted') {
    this.mode = mode;
  }

  /** How conditional writes are sent now (after any downgrade). */
  get conditionMode(): ConditionMode {
    return this.mode;
  }

  /**
   * Merges every entry object into the index, applies `mutate`, and writes it back until a
   * fresh read needs no change. `mutate` must be idempotent.
   */
  async update(mutate: (index: TailorIndex) => TailorIndex): Promise<IndexUpdateResult> {
    const { client, bucket, releaseLabel, log, signal } = this.options;
    const maxRounds = this.options.maxRounds ?? 60;
    const backoff = this.options.backoffMs ?? { base: 25, cap: 1500 };
    const key = indexKey(releaseLabel);
    const where = `s3://${bucket}/${key}`;
    const result: IndexUpdateResult = { index: {}, writes: 0, rounds: 0, conflicts: 0 };
    let losses = 0;
    while (result.rounds < maxRounds) {
      signal?.throwIfAborted();
      result.rounds += 1;
      const current = await getText(client, bucket, key, signal);
      const index = current ? parseIndex(current.text, where) : {};
      const { merged, removed } = await this.mergeEntryObjects(index);
      // A tombstoned image never goes back in, whoever asks (see s3-tombstones.ts).
      const next = withoutImages(mutate(merged), removed);
      const text = serializeIndex(next);
      if (current ? text === serializeIndex(index) : listEntries(next).length === 0) {
        result.index = next;
        log.debug(`s3: index settled after ${result.rounds} round(s), ${result.writes} write(s)`);
        return result;
      }
      log.debug(`s3: index write round ${result.rounds} (${this.mode})`);
      try {
        await putText(client, bucket, key, text, {
          contentType: 'application/json',
          cacheControl: this.options.cacheControl ?? INDEX_CACHE_CONTROL,
          ...this.condition(current?.etag),
          signal,
        });
        result.writes += 1;
        log.debug(`s3: index written`);
      } catch (error) {
        if (!isConditionFailed(error)) throw error;
        if (current && (await this.serverWronglyRejected(key, current.etag))) continue;
        result.conflicts += 1;
        losses += 1;
        const ceiling = Math.min(backoff.cap, backoff.base * 2 ** Math.min(losses, 16));
        await sleep(Math.random() * ceiling, signal);
      }
    }
    throw new Error(`${where} did not settle after ${maxRounds} rounds (${result.conflicts} lost races); the entry objects are kept and the next publish merges them`);
  }

  private condition(etag: string | undefined): { ifMatch?: string; ifNoneMatch?: '*' } {
    if (this.mode === 'unconditional') return {};
    if (etag === undefined) return { ifNoneMatch: '*' };
    const bare = etag.replace(/"/g, '');
    if (bare === '') {
      this.mode = 'unconditional';
      return {};
    }
    return { ifMatch: this.mode === 'quoted' ? `"${bare}"` : bare };
  }

  /**
   * A 412 for an object that still has the ETag we sent is the server's mistake: switch to
   * the next condition form. Returns true when it switched (retry at once).
   */
  private async serverWronglyRejected(key: string, sentEtag: string): Promise<boolean> {
    if (this.mode === 'unconditional') return false;
    const head = await headOrUndefined(this.options.client, this.options.bucket, key, this.options.signal);
    if (!head) return false;
    if ((head.ETag ?? '').replace(/"/g, '') !== sentEtag.replace(/"/g, '')) return false;
    const from = this.mode;
    this.mode = this.mode === 'quoted' ? 'bare' : 'unconditional';
    this.options.log.debug(`s3: If-Match with the ${from} ETag was refused for an unchanged object; using ${this.mode} writes`);
    return true;
  }

  /**
   * The index as every writer must leave it: without tombstoned images, and with each entry
   * object it does not name yet in its slot when that slot is free, the oldest entry object
   * (then the smallest name) first. Deterministic for a given listing, and a slot, once
   * filled, is kept: writers agree, so the loop settles whatever the entry objects hold.
   */
  private async mergeEntryObjects(index: TailorIndex): Promise<{ merged: TailorIndex; removed: Set<string> }> {
    const removed = await listTombstoned(this.options);
    let merged = withoutImages(index, removed);
    const named = namesIn(index);
    const missing = (await listEntryObjects(this.options))
      .filter(({ name }) => !named.has(name) && !removed.has(name))
      .sort((a, b) => a.lastModified - b.lastModified || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const found = new Map<string, StoredEntry>();
    await forEachLimited(missing, 16, async ({ name }) => {
      const stored = await readEntryObject(this.options, name);
      if (stored) found.set(name, stored);
    });
    for (const { name } of missing) {
      const stored = found.get(name);
      if (stored && !entryAt(merged, stored.slot)) merged = withEntry(merged, stored.slot, stored.entry);
    }
    return { merged, removed };
  }
}
