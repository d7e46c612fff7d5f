import { join } from 'node:path';

/** The tailor index of one release in a local store: `<root>/<release_label>/images/index.json`. */
export const LOCAL_INDEX_FILE = 'index.json';

/**
 * Where a local store keeps one release's images: `<root>/<release_label>/images/` (the
 * layout tailor used; s3-keys.ts is the same rule for a bucket).
 */
export function localImagesDir(root: string, releaseLabel: string): string {
  return join(root, releaseLabel, 'images');
}
