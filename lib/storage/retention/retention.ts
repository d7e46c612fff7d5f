import { timestampToEpoch } from '../../core/naming';
import { IndexEntry, IndexSlot } from '../indexes/tailor-index';

/**
 * Which images a retention policy lets go. Pure: index entries and a policy in, the
 * entries past it out. Images are grouped by (name, distribution, extension), so an LXD
 * image never counts against a bare-metal one of the same recipe, and each group is
 * judged on its own, newest first:
 *   numToKeep N   the newest N of a group stay;
 *   daysToKeep D  anything built less than D days before `now` stays.
 * With both, an image goes only when neither keeps it (the newest N stay however old,
 * and nothing younger than D days goes). With neither, nothing goes.
 * An entry whose timestamp cannot be read is never removed.
 */
export interface RetentionPolicy {
  daysToKeep?: number;
  numToKeep?: number;
  now: Date;
}

export interface RetentionEntry {
  slot: IndexSlot;
  entry: IndexEntry;
}

/** The image file's extension ("tar.gz", "raw.xz"), from the entry's artifact name; the index key for old entries. */
export function extensionOf(item: RetentionEntry): string {
  const artifact = item.entry.artifact;
  if (artifact && artifact.startsWith(`${item.entry.file}.`)) return artifact.slice(item.entry.file.length + 1);
  return `(${item.slot.key})`;
}

export function groupKey(item: RetentionEntry): string {
  return [item.slot.name, item.slot.distribution, extensionOf(item)].join('\u0000');
}

function epochOf(timestamp: string): number | undefined {
  try {
    return timestampToEpoch(timestamp);
  } catch {
    return undefined;
  }
}

export function expiredEntries(entries: RetentionEntry[], policy: RetentionPolicy): RetentionEntry[] {
  if (policy.numToKeep === undefined && policy.daysToKeep === undefined) return [];
  const nowSeconds = Math.floor(policy.now.getTime() / 1000);
  const groups = new Map<string, { item: RetentionEntry; epoch: number }[]>();
  for (const item of entries) {
    const epoch = epochOf(item.slot.timestamp);
    if (epoch === undefined) continue;
    const key = groupKey(item);
    const group = groups.get(key) ?? [];
    group.push({ item, epoch });
    groups.set(key, group);
  }
  const expired: RetentionEntry[] = [];
  for (const group of groups.values()) {
    group.sort((a, b) => b.epoch - a.epoch || b.item.slot.timestamp.localeCompare(a.item.slot.timestamp));
    group.forEach(({ item, epoch }, position) => {
      const keptByCount = policy.numToKeep !== undefined && position < policy.numToKeep;
      const keptByAge = policy.daysToKeep !== undefined && nowSeconds - epoch < policy.daysToKeep * 86400;
      const countSays = policy.numToKeep === undefined ? true : !keptByCount;
      const ageSays = policy.daysToKeep === undefined ? true : !keptByAge;
      if (countSays && ageSays) expired.push(item);
    });
  }
  return expired.sort((a, b) => a.slot.timestamp.localeCompare(b.slot.timestamp) || a.entry.file.localeCompare(b.entry.file));
}

/** Entries of one organization (the first field of the image name). */
export function ofOrganization(entries: RetentionEntry[], organization: string): RetentionEntry[] {
  return entries.filter((item) => item.entry.file.startsWith(`${organization}_`));
}
