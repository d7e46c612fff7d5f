import { createHash } from 'node:crypto';
import { copyFile, link, mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../../core/exec';
import { BuildLog } from '../../../core/log';
import { reproducibleTarArgs } from './layer';

export const MEDIA_TYPES = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** The files of an OCI image layout, as written. */
export interface OciLayout {
  dir: string;
  manifest: Descriptor;
  config: Descriptor;
  /** Bottom first: the shared base, then the recipe's changes (or one layer of the whole tree). */
  layers: Descriptor[];
  /** The full reference the image is tagged with (registry/repository:tag). */
  reference: string;
}

export function blobPath(layoutDir: string, digest: string): string {
  const [algorithm, hex] = digest.split(':');
  return join(layoutDir, 'blobs', algorithm, hex);
}

/** Stores JSON as a blob (compact, key order as given) and returns its descriptor. */
export async function writeJsonBlob(layoutDir: string, mediaType: string, value: unknown): Promise<Descriptor> {
  const bytes = Buffer.from(JSON.stringify(value), 'utf8');
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  await writeFile(blobPath(layoutDir, digest), bytes);
  return { mediaType, digest, size: bytes.length };
}

export async function prepareLayoutDir(layoutDir: string): Promise<void> {
  await mkdir(join(layoutDir, 'blobs', 'sha256'), { recursive: true });
}

/** Moves a finished layer file into the layout under its digest. */
export async function adoptLayerBlob(layoutDir: string, file: string, digest: string): Promise<void> {
  await rename(file, blobPath(layoutDir, digest));
}

/** Puts a kept layer file (left where it is) into the layout: a hard link, or a copy across file systems. */
export async function linkLayerBlob(layoutDir: string, file: string, digest: string): Promise<void> {
  const target = blobPath(layoutDir, digest);
  try {
    await link(file, target);
  } catch {
    await copyFile(file, target);
  }
}

/**
 * Writes the manifest, index.json, oci-layout and the `docker load` manifest.json
 * (Docker 25+ writes the same pair, so the archive is both an OCI layout and a
 * docker-archive).
 */
export async function writeLayoutIndex(
  layoutDir: string,
  parts: {
    config: Descriptor;
    layers: Descriptor[];
    annotations: Record<string, string>;
    reference: string;
    tag: string;
  },
): Promise<OciLayout> {
  const manifest = await writeJsonBlob(layoutDir, MEDIA_TYPES.manifest, {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: { mediaType: parts.config.mediaType, digest: parts.config.digest, size: parts.config.size },
    layers: parts.layers.map((layer) => ({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size })),
    annotations: parts.annotations,
  });
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.index,
    manifests: [
      {
        ...manifest,
        annotations: {
          'io.containerd.image.name': parts.reference,
          'org.opencontainers.image.ref.name': parts.tag,
        },
      },
    ],
  };
  await writeFile(join(layoutDir, 'index.json'), JSON.stringify(index));
  await writeFile(join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const dockerManifest = [
    {
      Config: `blobs/sha256/${parts.config.digest.split(':')[1]}`,
      RepoTags: [parts.reference],
      Layers: parts.layers.map((layer) => `blobs/sha256/${layer.digest.split(':')[1]}`),
    },
  ];
  await writeFile(join(layoutDir, 'manifest.json'), JSON.stringify(dockerManifest));
  return { dir: layoutDir, manifest, config: parts.config, layers: parts.layers, reference: parts.reference };
}

/** Archives the layout reproducibly: the OCI layout alone, or with the docker manifest.json. */
export async function archiveLayout(
  layoutDir: string,
  outFile: string,
  kind: 'oci' | 'docker',
  epoch: number,
  options: { log: BuildLog; signal: AbortSignal },
): Promise<void> {
  const members = ['oci-layout', 'index.json', 'blobs', ...(kind === 'docker' ? ['manifest.json'] : [])];
  await run('tar', reproducibleTarArgs(layoutDir, epoch, { file: outFile, members, ownerRoot: true, clamp: false }), {
    describe: `tar of the ${kind === 'oci' ? 'OCI layout' : 'docker archive'}`,
    log: options.log,
    signal: options.signal,
  });
}
