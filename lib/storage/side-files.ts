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
 * each extra artifact. (The package manifest, `manifestFileName()`, goes beside them.)
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

/** `<image>.manifest`: one "package<TAB>version" line per installed package. */
export function manifestFileName(image: Pick<BuiltImage, 'imageName'>): string {
  return `${image.imageName}.manifest`;
}
