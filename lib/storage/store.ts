import { BuildType, BuiltImage } from '../core/image';
import { BuildLog } from '../core/log';

/** A file as it lies in a store. */
export interface StoredFile {
  fileName: string;
  /** Path or URL where it can be found. */
  location: string;
  size: number;
  md5: string;
  sha256: string;
}

export interface StoredImage {
  imageName: string;
  /** build-only, local or publish. */
  mode: string;
  files: StoredFile[];
  /** Where the index that names the image is, if the store keeps one. */
  index?: string;
  reference?: string;
}

/**
 * An image a run is going to deliver, as the store must know it before any work: verify()
 * checks every planned image (it is not stored yet and its index slot is free, its release
 * is reachable, a docker image has a registry to go to).
 */
export interface PlannedImage {
  imageName: string;
  releaseLabel: string;
  buildType: BuildType;
  /** The key its entry goes under in the tailor index ("raw" or "docker", the packer's). */
  indexKey: string;
  /** The image file's name, `<image_name>.<extension>`. */
  fileName: string;
  /** Docker images: the registry (`--docker-registry`) and repository they are pushed to on publish. */
  push?: { registry?: string; repository?: string };
}

/**
 * One interface for every storage mode. verify() runs with the rest of the plan, before
 * any work; put() moves whole artifacts into place and updates the index last, so a
 * reader never sees an index entry for a missing or partial file.
 */
export interface ImageStore {
  readonly mode: 'build-only' | 'local' | 'publish';
  /** One line saying where images go ("build-only: ./images (no index)"). */
  describe(): string;
  verify(): Promise<void>;
  put(image: BuiltImage, log: BuildLog, signal?: AbortSignal): Promise<StoredImage>;
}
