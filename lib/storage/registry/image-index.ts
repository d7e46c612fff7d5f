import { ARCHITECTURES, Architecture, DEFAULT_ARCHITECTURE, architectureNames, archNameField, isArchitecture, splitArchNameField } from '../../core/architecture';
import { IndexSlot, TailorIndex } from '../indexes/tailor-index';

/**
 * The multi-arch image index (docs/CONTAINERS.md, "Several architectures"): each
 * architecture of a docker image is pushed under its own tag (amd64 under tailor's usual
 * one); when the newest build of a recipe on a distribution in a release label has pushed
 * images of more than one architecture, an OCI image index listing each one's manifest is
 * put under the usual tag, so `podman pull --arch arm64 <usual tag>` gets the arm64 image.
 */

export const OCI_INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';

/** One architecture's pushed image, as the tailor index records it. */
export interface ArchImage {
  architecture: Architecture;
  /** `<registry>/<repository>@sha256:<hex>`, the entry's `reference`. */
  reference: string;
  /** The image name (the entry's `file`). */
  imageName: string;
}

/**
 * Which images the usual tag's index should list after the image in `slot` was indexed
 * (`index` as written): the pushed docker images of every architecture of that recipe and
 * distribution at the newest timestamp that has any, when that timestamp is the slot's and
 * they are more than one; otherwise none (a single-arch build, or a newer build exists:
 * the index is never set back to an older version). Sorted by architecture, amd64 first.
 */
export function multiArchImages(index: TailorIndex, slot: IndexSlot): ArchImage[] | undefined {
  if (slot.key !== 'docker') return undefined;
  const recipe = splitArchNameField(slot.name).name;
  const atTime = (timestamp: string): ArchImage[] => {
    const names = index[timestamp]?.docker ?? {};
    return ARCHITECTURES.flatMap((architecture) => {
      const entry = names[archNameField(recipe, architecture)]?.[slot.distribution];
      if (!entry?.reference || !/@sha256:[0-9a-f]{64}$/.test(entry.reference)) return [];
      const recorded = entry.arch ?? DEFAULT_ARCHITECTURE;
      if (!isArchitecture(recorded) || recorded !== architecture) return [];
      return [{ architecture, reference: entry.reference, imageName: entry.file }];
    });
  };
  const newest = Object.keys(index).sort().reverse().find((timestamp) => atTime(timestamp).length > 0);
  if (newest !== slot.timestamp) return undefined;
  const images = atTime(newest);
  return images.length > 1 ? images : undefined;
}

/** A child manifest as the registry holds it. */
export interface ManifestDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  architecture: Architecture;
}

/**
 * The OCI image index listing the manifests, one per architecture, with their platform
 * (os linux, the OCI architecture name). Written with a fixed key order and order of
 * children (amd64 first), so the same children always give the same bytes and digest.
 */
export function imageIndexManifest(children: ManifestDescriptor[], annotations: Record<string, string> = {}): string {
  const sorted = [...children].sort((a, b) => ARCHITECTURES.indexOf(a.architecture) - ARCHITECTURES.indexOf(b.architecture));
  const seen = new Set(sorted.map((child) => child.architecture));
  if (seen.size !== sorted.length) throw new Error('an image index lists each architecture once');
  const keys = Object.keys(annotations).sort();
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX_MEDIA_TYPE,
    manifests: sorted.map((child) => ({
      mediaType: child.mediaType,
      digest: child.digest,
      size: child.size,
      platform: { architecture: architectureNames(child.architecture).oci, os: 'linux' },
    })),
    ...(keys.length > 0 ? { annotations: Object.fromEntries(keys.map((key) => [key, annotations[key]])) } : {}),
  });
}

/** The repository and digest of a pinned reference `<registry>/<repository>@sha256:<hex>`. */
export function splitPinned(reference: string): { repositoryRef: string; digest: string } {
  const at = reference.lastIndexOf('@');
  if (at < 0) throw new Error(`${reference} is not pinned by digest`);
  return { repositoryRef: reference.slice(0, at), digest: reference.slice(at + 1) };
}
