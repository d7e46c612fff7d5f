import { UsageError } from '../core/errors';
import { parseImageName } from '../core/naming';
import { entryAt, IndexSlot, listEntries, slotTakenMessage, TailorIndex } from './indexes/tailor-index';
import { PlannedImage } from './store';

/** The slot a planned image's entry will take in its release's index. */
export function plannedSlot(image: PlannedImage): IndexSlot {
  const { timestamp, name, distribution } = parseImageName(image.imageName);
  return { timestamp, key: image.indexKey, name, distribution };
}

/**
 * Refuses, before any work, a planned image that its release's index (`where`) already
 * names, or whose slot holds another image (the same timestamp, name and distribution from
 * another organization): both are fixed by another --timestamp, so both are usage errors.
 */
export function checkSlotFree(image: PlannedImage, index: TailorIndex, where: string): void {
  if (listEntries(index).some(({ entry }) => entry.file === image.imageName)) {
    throw new UsageError(`${where} already names ${image.imageName} (pick another --timestamp)`);
  }
  const slot = plannedSlot(image);
  const holder = entryAt(index, slot);
  if (holder) throw new UsageError(slotTakenMessage(where, holder.file, image.imageName, slot));
}
