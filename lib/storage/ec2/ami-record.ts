import { AmiEntry } from '../indexes/tailor-index';

/**
 * What the index entry of an `ami` image records (entry field `ami`, which tailor's
 * consumers ignore): the region it was registered in, the snapshot there, and the image id
 * in every region it was registered in or copied to.
 */
export type AmiRecord = AmiEntry;

export function isAmiRecord(value: unknown): value is AmiRecord {
  const v = value as AmiRecord | undefined;
  return (
    typeof v?.region === 'string' && typeof v.snapshot === 'string' && typeof v.images === 'object' && v.images !== null &&
    Object.values(v.images).every((id) => typeof id === 'string')
  );
}
