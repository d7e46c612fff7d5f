import { splitArchNameField } from '../../core/architecture';
import { DISTRIBUTIONS } from '../../core/distributions';
import { listEntries, TailorIndex } from './tailor-index';

/**
 * A store as a simplestreams image server (what `lxc remote add <name> <url> --protocol
 * simplestreams` reads): `streams/v1/index.json` names one products file,
 * `streams/v1/images.json`, whose products are `<name>:<distribution>:<variant>:<arch>`,
 * each with aliases (`webapp/bookworm`, `webapp/bookworm/default`) and versions keyed by
 * the tailor build timestamp (`YYYYMMDD.HHMMSS`: LXD and Incus read the first 8 characters
 * as the creation date and sort versions by the whole key as a string, newest first, so
 * the newest build takes the aliases).
 *
 * Each version holds the unified tarball twice, under the item names each client looks
 * for: `lxd_combined.tar.gz` (LXD) and `incus_combined.tar.gz` (Incus). For a unified
 * tarball both take the image's fingerprint from the item's `sha256`; `combined_sha256`
 * carries the same value for tools that read that field.
 *
 * Pure: the same images give byte-identical files (keys sorted, `updated` taken from the
 * newest build, not the clock), so a local store and an S3 bucket holding the same
 * images publish the same JSON.
 */

export const STREAMS_INDEX_PATH = 'streams/v1/index.json';
export const STREAMS_IMAGES_PATH = 'streams/v1/images.json';
/** LXD and Incus cache these for an hour on their side; servers should not add to it. */
export const STREAMS_CACHE_CONTROL = 'public, max-age=60, must-revalidate';

export const LXD_COMBINED_FTYPE = 'lxd_combined.tar.gz';
export const INCUS_COMBINED_FTYPE = 'incus_combined.tar.gz';

/** One stored LXD unified image, as the streams list it. */
export interface StreamImage {
  /** The recipe name ("webapp"). */
  name: string;
  /** The distribution codename ("bookworm"). */
  distribution: string;
  /** The build timestamp, `YYYYMMDD.HHMMSS`: the version key. */
  timestamp: string;
  releaseLabel: string;
  /** The full image name (`acme_webapp_bookworm_hotdog_<timestamp>`). */
  imageName: string;
  /** Path of the tarball relative to the server root, with `/` separators. */
  path: string;
  size: number;
  sha256: string;
  md5?: string;
  variant?: string;
  arch?: string;
}

/** A file of the stream: its path relative to the server root and its exact bytes. */
export interface StreamFile {
  path: string;
  body: string;
  contentType: string;
  cacheControl: string;
}

interface ProductItem {
  ftype: string;
  path: string;
  size: number;
  sha256: string;
  md5?: string;
  combined_sha256: string;
}

const DEFAULT_VARIANT = 'default';
const DEFAULT_ARCH = 'amd64';
const VERSION_KEY = /^\d{8}/;

export function productKey(image: Pick<StreamImage, 'name' | 'distribution' | 'variant' | 'arch'>): string {
  return [image.name, image.distribution, image.variant ?? DEFAULT_VARIANT, image.arch ?? DEFAULT_ARCH].join(':');
}

/** The simplestreams date form (RFC 1123 with a numeric zone), from a tailor timestamp. */
export function streamsDate(timestamp: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})\.(\d{2})(\d{2})(\d{2})$/.exec(timestamp);
  if (!m) throw new Error(`"${timestamp}" is not a tailor timestamp (YYYYMMDD.HHMMSS)`);
  const date = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  return date.toUTCString().replace('GMT', '+0000');
}

/**
 * The LXD images a tailor index names: entries of build type lxd that carry the sha256
 * and size of their tarball (entries written before those fields existed are left out:
 * they have no fingerprint to offer). `prefix` is where the label's images lie relative
 * to the server root (`<release_label>/images/`, the same locally and in S3).
 */
export function streamImagesFromIndex(index: TailorIndex, releaseLabel: string, prefix = `${releaseLabel}/images/`): StreamImage[] {
  const out: StreamImage[] = [];
  for (const { slot, entry } of listEntries(index)) {
    if (entry.build_type !== 'lxd' || !entry.sha256 || typeof entry.size !== 'number') continue;
    const artifact = entry.artifact ?? `${entry.file}.tar.gz`;
    if (!artifact.endsWith('.tar.gz') || artifact.includes('/')) continue;
    // A non-amd64 build's slot is `<recipe>-<arch>` and its entry says the arch: the product
    // takes the recipe's name and aliases, beside the amd64 one (LXD picks by the host's arch).
    const split = splitArchNameField(slot.name);
    const arch = entry.arch !== undefined && entry.arch === split.architecture ? entry.arch : undefined;
    out.push({
      name: arch !== undefined ? split.name : slot.name,
      ...(arch !== undefined ? { arch } : {}),
      distribution: slot.distribution,
      timestamp: slot.timestamp,
      releaseLabel,
      imageName: entry.file,
      path: `${prefix}${artifact}`,
      size: entry.size,
      sha256: entry.sha256,
      md5: entry.checksum || undefined,
    });
  }
  return out;
}

/**
 * The stream files of a whole store from its release labels' tailor indexes: what the
 * local store writes under `<root>/streams/v1/` and what a bucket holds under
 * `streams/v1/` (images lie at `<release_label>/images/` in both), so the same indexes
 * give byte-identical files wherever they are published.
 */
export function streamFilesFromIndexes(indexes: { releaseLabel: string; index: TailorIndex }[]): StreamFile[] {
  return buildStreamFiles(indexes.flatMap(({ releaseLabel, index }) => streamImagesFromIndex(index, releaseLabel)));
}

/** Builds the two stream files; see the module comment. */
export function buildStreamFiles(images: StreamImage[]): StreamFile[] {
  const products: Record<string, Record<string, unknown>> = {};
  const versionsOf: Record<string, Record<string, unknown>> = {};
  let newest = '';
  const ordered = [...images].sort((a, b) =>
    a.timestamp.localeCompare(b.timestamp) || a.releaseLabel.localeCompare(b.releaseLabel) || a.path.localeCompare(b.path),
  );
  for (const image of ordered) {
    if (!VERSION_KEY.test(image.timestamp)) throw new Error(`${image.imageName}: version key "${image.timestamp}" does not start with YYYYMMDD`);
    const key = productKey(image);
    const variant = image.variant ?? DEFAULT_VARIANT;
    const distribution = DISTRIBUTIONS[image.distribution];
    if (!products[key]) {
      const base = `${image.name}/${image.distribution}`;
      products[key] = {
        aliases: [base, `${base}/${variant}`].join(','),
        arch: image.arch ?? DEFAULT_ARCH,
        // LXD shows "<os> <release_title> <arch> (<label>) (<serial>)" as the description:
        // the recipe is what a user of this server picks, so it stands where a distribution
        // stands on images.linuxcontainers.org; the distribution follows as the release.
        os: image.name,
        release: image.distribution,
        release_title: distribution
          ? `${capitalize(distribution.os)} ${distribution.version} (${image.distribution})`
          : image.distribution,
        variant,
        ...(distribution ? { version: distribution.version } : {}),
        versions: (versionsOf[key] = {}),
      };
    }
    const versions = versionsOf[key];
    // Two release labels may hold the same recipe built at the same second: keep both.
    const version = versions[image.timestamp] ? `${image.timestamp}-${image.releaseLabel}` : image.timestamp;
    const item = (ftype: string): ProductItem => ({
      ftype,
      path: image.path,
      size: image.size,
      sha256: image.sha256,
      ...(image.md5 ? { md5: image.md5 } : {}),
      combined_sha256: image.sha256,
    });
    versions[version] = {
      items: { [LXD_COMBINED_FTYPE]: item(LXD_COMBINED_FTYPE), [INCUS_COMBINED_FTYPE]: item(INCUS_COMBINED_FTYPE) },
      label: image.releaseLabel,
      pubname: image.imageName,
    };
    if (image.timestamp > newest) newest = image.timestamp;
  }
  const updated = newest ? { updated: streamsDate(newest) } : {};
  const imagesJson = {
    content_id: 'images',
    datatype: 'image-downloads',
    format: 'products:1.0',
    products,
    ...updated,
  };
  const indexJson = {
    format: 'index:1.0',
    index: {
      images: {
        datatype: 'image-downloads',
        format: 'products:1.0',
        path: STREAMS_IMAGES_PATH,
        products: Object.keys(products).sort(),
        ...updated,
      },
    },
    ...updated,
  };
  const file = (path: string, data: unknown): StreamFile => ({
    path,
    body: stableJson(data),
    contentType: 'application/json',
    cacheControl: STREAMS_CACHE_CONTROL,
  });
  // images.json first: index.json names its products, so it is written last.
  return [file(STREAMS_IMAGES_PATH, imagesJson), file(STREAMS_INDEX_PATH, indexJson)];
}

/** JSON with every object's keys sorted, two-space indented, ending in a newline. */
export function stableJson(data: unknown): string {
  return `${JSON.stringify(sortKeys(data), null, 2)}\n`;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
