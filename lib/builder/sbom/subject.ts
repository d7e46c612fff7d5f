import { SbomPackage } from './image-packages';

/** What an image's SBOM describes: the image file (by its sha256) and the packages in it. */
export interface SbomSubject {
  imageName: string;
  /** The stored image file, `<image_name>.<extension>`. */
  fileName: string;
  /** sha256 of that file, as the checksum stage computed it (and `<image>.sha256` holds). */
  sha256: string;
  buildType: string;
  organization: string;
  /** The build time, from the build's `--timestamp` (so a rebuild writes the same document). */
  created: Date;
  /** The tool that wrote the document, `tailor-image-<version>`. */
  tool: string;
  packages: SbomPackage[];
}
