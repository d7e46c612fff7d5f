import { BuiltImage, mainArtifact } from '../../core/image';

/**
 * The image index existing tailor consumers read:
 *   { "<timestamp>": { "<index key>": { "<name>": { "<distribution>": { file, checksum } } } } }
 * `file` is the image name and `checksum` the md5 of the image file, as tailor wrote them.
 * New fields live beside them inside an entry and never change the old ones' meaning.
 */
export interface IndexEntry {
  /** The image name (no extension), as tailor wrote it. */
  file: string;
  /** md5 of the image file. */
  checksum: string;
  /** Added: the stored file name with its extension. */
  artifact?: string;
  sha256?: string;
  size?: number;
  build_type?: string;
  /** Added: registry reference of a pushed docker image. */
  reference?: string;
}

export type TailorIndex = Record<string, Record<string, Record<string, Record<string, IndexEntry>>>>;

/** One entry's position in the index. */
export interface IndexSlot {
  timestamp: string;
  key: string;
  name: string;
  distribution: string;
}

export function entryFor(image: BuiltImage): { slot: IndexSlot; entry: IndexEntry } {
  const file = mainArtifact(image);
  return {
    slot: { timestamp: image.timestamp, key: image.indexKey, name: image.name, distribution: image.distribution },
    entry: {
      file: image.imageName,
      checksum: file.md5,
      artifact: file.fileName,
      sha256: file.sha256,
      size: file.size,
      build_type: image.buildType,
      ...(image.reference ? { reference: image.reference } : {}),
    },
  };
}

/** Returns a new index with the entry set; everything else is kept as it was. */
export function withEntry(index: TailorIndex, slot: IndexSlot, entry: IndexEntry): TailorIndex {
  const next: TailorIndex = structuredClone(index);
  const atTime = (next[slot.timestamp] ??= {});
  const atKey = (atTime[slot.key] ??= {});
  const atName = (atKey[slot.name] ??= {});
  atName[slot.distribution] = entry;
  return next;
}

/** Returns a new index without the entry; empty branches are pruned. */
export function withoutEntry(index: TailorIndex, slot: IndexSlot): TailorIndex {
  const next: TailorIndex = structuredClone(index);
  const atName = next[slot.timestamp]?.[slot.key]?.[slot.name];
  if (!atName) return next;
  delete atName[slot.distribution];
  if (Object.keys(atName).length === 0) delete next[slot.timestamp][slot.key][slot.name];
  if (Object.keys(next[slot.timestamp][slot.key]).length === 0) delete next[slot.timestamp][slot.key];
  if (Object.keys(next[slot.timestamp]).length === 0) delete next[slot.timestamp];
  return next;
}

/** Every entry with its slot, oldest timestamp first. */
export function listEntries(index: TailorIndex): { slot: IndexSlot; entry: IndexEntry }[] {
  const out: { slot: IndexSlot; entry: IndexEntry }[] = [];
  for (const timestamp of Object.keys(index).sort()) {
    for (const [key, names] of Object.entries(index[timestamp])) {
      for (const [name, distributions] of Object.entries(names)) {
        for (const [distribution, entry] of Object.entries(distributions)) {
          out.push({ slot: { timestamp, key, name, distribution }, entry });
        }
      }
    }
  }
  return out;
}

/** Parses index text; anything that is not the tailor shape is an error naming the source. */
export function parseIndex(text: string, source: string): TailorIndex {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error(`${source} is not valid JSON`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new Error(`${source} is not a tailor image index (expected an object keyed by timestamp)`);
  }
  return data as TailorIndex;
}

export function serializeIndex(index: TailorIndex): string {
  const sorted: TailorIndex = {};
  for (const timestamp of Object.keys(index).sort()) sorted[timestamp] = index[timestamp];
  return `${JSON.stringify(sorted, null, 2)}\n`;
}
