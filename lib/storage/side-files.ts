import { checksumLine } from '../core/digest';
import { BuiltImage } from '../core/image';

/** A small text file stored beside an image's artifacts. */
export interface SideFile {
  fileName: string;
  text: string;
}

/**
 * The checksum files every store keeps beside an image, in md5sum/sha256sum format:
 * `<image>.md5` / `<image>.sha256` for the image file, `<file>.md5` / `<file>.sha256` for
 * each extra artifact. (The package manifest, `manifestFileName()`, and the SBOMs,
 * `sbomFiles()`, go beside them.)
 */
export function checksumFiles(image: BuiltImage): SideFile[] {
  return image.artifacts.flatMap((artifact) => {
    const stem = artifact.role === 'image' ? image.imageName : artifact.fileName;
    return [
      { fileName: `${stem}.md5`, text: checksumLine(artifact.md5, artifact.fileName) },
      { fileName: `${stem}.sha256`, text: checksumLine(artifact.sha256, artifact.fileName) },
    ];
  });
}

/** `<image>.spdx.json` (SPDX 2.3) and `<image>.cdx.json` (CycloneDX 1.6): the image's SBOMs. */
export function sbomFileNames(image: Pick<BuiltImage, 'imageName'>): { spdx: string; cyclonedx: string } {
  return { spdx: `${image.imageName}.spdx.json`, cyclonedx: `${image.imageName}.cdx.json` };
}

/** The SBOMs a build wrote, where they are and the names they are stored under (none for an image without them). */
export function sbomFiles(image: Pick<BuiltImage, 'imageName' | 'sbomPaths'>): { path: string; fileName: string }[] {
  if (!image.sbomPaths) return [];
  const names = sbomFileNames(image);
  return [
    { path: image.sbomPaths.spdx, fileName: names.spdx },
    { path: image.sbomPaths.cyclonedx, fileName: names.cyclonedx },
  ];
}

/** `<image>.manifest`: one "package<TAB>version" line per installed package. */
export function manifestFileName(image: Pick<BuiltImage, 'imageName'>): string {
  return `${image.imageName}.manifest`;
}
