import { DEFAULT_ARCHITECTURE } from '../../core/architecture';
import { BuildError } from '../../core/errors';
import { BuiltImage, ImageTestReport, mainArtifact } from '../../core/image';
import { sbomFileNames } from '../side-files';

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
  /** Added: the CPU architecture of a non-amd64 image (arm64); amd64 entries have none, as before. */
  arch?: string;
  /** Added: registry reference of a pushed docker image. */
  reference?: string;
  /** Added: the test gate's results (runtime, seconds, each check) when the image was tested. */
  tests?: ImageTestReport;
  /** Added: the SBOM files beside the image, `<image>.spdx.json` and `<image>.cdx.json`. */
  spdx?: string;
  cyclonedx?: string;
  /** Added: an `ami` image's registration (tailor's consumers ignore it; docs/PUBLISHING.md). */
  ami?: AmiEntry;
}

/** Where an `ami` image was registered: its region, the snapshot there, the image id per region. */
export interface AmiEntry {
  region: string;
  snapshot: string;
  images: Record<string, string>;
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
      ...(image.architecture && image.architecture !== DEFAULT_ARCHITECTURE ? { arch: image.architecture } : {}),
      ...(image.reference ? { reference: image.reference } : {}),
      ...(image.sbomPaths ? { spdx: sbomFileNames(image).spdx, cyclonedx: sbomFileNames(image).cyclonedx } : {}),
      ...(image.tests ? { tests: image.tests } : {}),
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

/** Returns a new index without the entries of these images (by image name). */
export function withoutImages(index: TailorIndex, images: Set<string>): TailorIndex {
  let next = index;
  for (const { slot, entry } of listEntries(index)) if (images.has(entry.file)) next = withoutEntry(next, slot);
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

/**
 * Parses index text; anything that is not the tailor shape is an error naming the source:
 * an object of timestamps, each an object of index keys, each of names, each of
 * distributions, each an entry object with a string `file` (what consumers walk).
 */
export function parseIndex(text: string, source: string): TailorIndex {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error(`${source} is not valid JSON`);
  }
  if (!isObject(data)) {
    throw new Error(`${source} is not a tailor image index (expected an object keyed by timestamp)`);
  }
  const walk = (value: unknown, path: string[], depth: number): void => {
    if (!isObject(value)) throw new Error(`${source} is not a tailor image index (${path.join(' / ')} is not an object)`);
    if (depth === 4) {
      if (typeof value.file !== 'string') throw new Error(`${source} is not a tailor image index (${path.join(' / ')} has no "file")`);
      return;
    }
    for (const [key, child] of Object.entries(value)) walk(child, [...path, key], depth + 1);
  };
  for (const [timestamp, keys] of Object.entries(data)) walk(keys, [timestamp], 1);
  return data as TailorIndex;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The entry in a slot, if any. */
export function entryAt(index: TailorIndex, slot: IndexSlot): IndexEntry | undefined {
  return index[slot.timestamp]?.[slot.key]?.[slot.name]?.[slot.distribution];
}

/** A slot as a person reads it: `20261126.101500 raw/webapp/bookworm`. */
export function describeSlot(slot: IndexSlot): string {
  return `${slot.timestamp} ${slot.key}/${slot.name}/${slot.distribution}`;
}

/** Why an image cannot take its slot: `where` (the index) holds `holder` there. */
export function slotTakenMessage(where: string, holder: string, file: string, slot: IndexSlot): string {
  return `${where} already holds ${holder} where ${file} goes (${describeSlot(slot)}); pick another --timestamp`;
}

/**
 * An image's slot in an index holds another image (same timestamp, name and distribution
 * from another organization): two images never replace each other, the later one is refused.
 */
export class SlotTakenError extends BuildError {
  constructor(
    readonly slot: IndexSlot,
    readonly file: string,
    readonly holder: string,
    where: string,
  ) {
    super(slotTakenMessage(where, holder, file, slot));
  }
}

/**
 * Returns a new index with the entry in its slot, when that slot is free or already holds
 * this image; a slot holding another image is a SlotTakenError (`where` names the index).
 */
export function withEntryInFreeSlot(index: TailorIndex, slot: IndexSlot, entry: IndexEntry, where: string): TailorIndex {
  const holder = entryAt(index, slot);
  if (holder && holder.file !== entry.file) throw new SlotTakenError(slot, entry.file, holder.file, where);
  return withEntry(index, slot, entry);
}

export function serializeIndex(index: TailorIndex): string {
  const sorted: TailorIndex = {};
  for (const timestamp of Object.keys(index).sort()) sorted[timestamp] = index[timestamp];
  return `${JSON.stringify(sorted, null, 2)}\n`;
}
