import { Architecture } from './architecture';
import { FileDigest } from './digest';

/** The kinds of image the builder makes (a recipe's build_type). */
export const BUILD_TYPES = ['lxd', 'bare_metal', 'docker', 'ami'] as const;
export type BuildType = (typeof BUILD_TYPES)[number];

/** A file a packer made in the staging directory, with its checksums. */
export interface Artifact extends FileDigest {
  /** The file's name as it will be stored: `<image_name>.<extension>`. */
  fileName: string;
  /** Where it is now (the staging directory). */
  path: string;
  /** What kind of file: the image itself, or something beside it (OCI layout, manifest). */
  role: 'image' | 'extra';
}

/** One check the test gate ran against the image, and how long it took. */
export interface CheckResult {
  name: string;
  /** Built-in (init, user, hostname, bundle) or the recipe's own `tests:`. */
  kind: 'built-in' | 'recipe';
  passed: boolean;
  seconds: number;
}

/** What the test gate found: where the image ran, each check, and the whole time (start and stop included). */
export interface ImageTestReport {
  /** lxd, nspawn, podman or qemu. */
  runtime: string;
  checks: CheckResult[];
  seconds: number;
}

/** What a build hands to a store. */
export interface BuiltImage {
  imageName: string;
  /** The name field of the image name: the recipe name, `<recipe>-<arch>` for a non-amd64 build. */
  name: string;
  /** The CPU architecture; absent means amd64 (images made before architectures existed). */
  architecture?: Architecture;
  distribution: string;
  organization: string;
  releaseLabel: string;
  timestamp: string;
  buildType: BuildType;
  /** The key under a timestamp in the tailor index: "raw" (bare metal, ami, lxd) or "docker". */
  indexKey: string;
  /** The image file first, then any extras. */
  artifacts: Artifact[];
  /** `<image_name>.manifest`: one "package<TAB>version" line per installed package. */
  manifestPath: string;
  /** `<image_name>.spdx.json` and `<image_name>.cdx.json`, the SBOMs (every build writes them). */
  sbomPaths?: { spdx: string; cyclonedx: string };
  /** Registry reference, for docker images that were pushed. */
  reference?: string;
  /** The test gate's results, when the image was tested before it was stored. */
  tests?: ImageTestReport;
}

export function mainArtifact(image: Pick<BuiltImage, 'imageName' | 'artifacts'>): Artifact {
  const found = image.artifacts.find((a) => a.role === 'image');
  if (!found) throw new Error(`build of ${image.imageName} produced no image file`);
  return found;
}
