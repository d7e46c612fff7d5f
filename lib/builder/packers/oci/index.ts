import { join } from 'node:path';
import { BuildError } from '../../../core/errors';
import { Recipe } from '../../../recipes/schema';
import { HostTool, requireHostTools } from '../../../core/host-tools';
import { timestampToEpoch } from '../../../core/naming';
import { BuildRequest } from '../../request';
import { Rootfs } from '../../rootfs-path';
import { PackInput, PackedFile, Packer, RootfsLayers } from '../packer';
import { installEntrypoint } from './entrypoint';
import { imageConfig, imageLabels, ociArchitecture } from './image-config';
import { baseLayer } from './base-layer';
import { writeChangesLayer } from './changes-layer';
import { LayerResult, writeRootfsLayer } from './layer';
import {
  MEDIA_TYPES, OciLayout, adoptLayerBlob, archiveLayout, linkLayerBlob, prepareLayoutDir, writeJsonBlob, writeLayoutIndex,
} from './layout';
import { imageReference, imageTag, parseRegistry, repositoryName } from '../../../core/oci-reference';

export { ENTRYPOINT_PATH, entrypointScript } from './entrypoint';
export { bundleRoot } from './image-config';
export { imageReference, imageTag, parseRegistry, repositoryName } from '../../../core/oci-reference';
export type { RegistryTarget } from '../../../core/oci-reference';
export type { OciLayout } from './layout';

const PACK_TOOLS: HostTool[] = [
  { command: 'tar', package: 'tar' },
  { command: 'pigz', package: 'pigz' },
  { command: 'getfattr', package: 'attr' },
];

/** The reference an image built from this request is tagged with. */
export function referenceFor(request: BuildRequest): { reference: string; tag: string } {
  const tag = imageTag({ name: request.nameField, distribution: request.distribution.codename, releaseLabel: request.releaseLabel });
  const registry = request.dockerRegistry ? parseRegistry(request.dockerRegistry) : undefined;
  return { reference: imageReference(registry, repositoryName(request.recipe.docker.repository, request.organization), tag), tag };
}

/** The user the container runs as and its home, from the rootfs's own /etc/passwd. */
export async function containerUser(rootfs: string, recipe: Recipe): Promise<{ user: string; home: string }> {
  const user = recipe.user?.name ?? 'root';
  let passwd: string;
  try {
    passwd = await new Rootfs(rootfs).readFile('/etc/passwd', 'utf8');
  } catch {
    throw new BuildError(`the rootfs ${rootfs} has no readable /etc/passwd`);
  }
  const entry = passwd.split('\n').map((line) => line.split(':')).find((fields) => fields[0] === user);
  if (!entry || entry.length < 7) throw new BuildError(`user ${user} of recipe ${recipe.name} is not in the image's /etc/passwd`);
  return { user, home: entry[5] || '/' };
}

/**
 * Builds what one OCI image needs in `layoutDir` from a rootfs: the reproducible layer,
 * the config and manifest. Exposed for the benchmark and tests; pack() wraps it.
 */
export async function buildOciLayout(input: PackInput, layoutDir: string): Promise<OciLayout> {
  const { request, rootfs } = input;
  const { recipe } = request;
  const epoch = timestampToEpoch(request.timestamp);
  const { user, home } = await containerUser(rootfs, recipe);
  const { reference, tag } = referenceFor(request);
  await prepareLayoutDir(layoutDir);
  const layers = (input.layers && (await packTwoLayers(input, input.layers, layoutDir, epoch))) ?? (await packOneLayer(input, layoutDir, epoch));
  const facts = { request, recipe, user, home, layers, epoch, architecture: ociArchitecture(request) };
  const config = await writeJsonBlob(layoutDir, MEDIA_TYPES.config, imageConfig(facts));
  const labels = imageLabels(facts);
  const annotations = Object.fromEntries(Object.entries(labels).filter(([key]) => key.startsWith('org.opencontainers.image.')));
  return writeLayoutIndex(layoutDir, {
    config,
    layers: layers.map((layer) => ({ mediaType: MEDIA_TYPES.layerGzip, digest: layer.digest, size: layer.size })),
    annotations,
    reference,
    tag,
  });
}

type PackedLayer = LayerResult & { comment: string };

/** One layer of the whole finished tree (the rootfs is a copy, not an overlay). */
async function packOneLayer(input: PackInput, layoutDir: string, epoch: number): Promise<PackedLayer[]> {
  const { rootfs, log, signal } = input;
  const layerFile = join(input.scratchDir, 'layer.tar.gz.partial');
  log.info(input.layers ? 'packing the rootfs into one container layer' : 'the rootfs is no overlay (its changes are not apart): packing it into one container layer');
  const layer = await writeRootfsLayer(rootfs, layerFile, epoch, { log, signal });
  await adoptLayerBlob(layoutDir, layerFile, layer.digest);
  return [{ ...layer, comment: 'rootfs' }];
}

/**
 * The shared base (finalized, the same blob for every image on it) and this build's
 * changes from the overlay's upper directory; undefined when the changes cannot be said
 * as a layer (then one layer is packed).
 */
async function packTwoLayers(input: PackInput, sources: RootfsLayers, layoutDir: string, epoch: number): Promise<PackedLayer[] | undefined> {
  const { log, signal } = input;
  const base = await baseLayer(sources.baseTree, sources.baseCache, input.scratchDir, { log, signal });
  const changesFile = join(input.scratchDir, 'changes.tar.gz.partial');
  const changes = await writeChangesLayer(sources.upper, changesFile, epoch, input.scratchDir, { log, signal });
  if (!changes) return undefined;
  await linkLayerBlob(layoutDir, base.file, base.digest);
  await adoptLayerBlob(layoutDir, changesFile, changes.digest);
  log.info(`container layers: the shared base ${(base.size / 2 ** 20).toFixed(1)} MiB + this image's changes ${(changes.size / 2 ** 20).toFixed(1)} MiB`);
  return [
    { ...base, comment: 'base: bootstrapped packages, finalized' },
    { ...changes, comment: 'changes: the recipe\'s packages, provisioning and finalize' },
  ];
}

/**
 * build_type docker: an OCI image made straight from the rootfs, with no Docker engine.
 * Writes `<image>.docker.tar` (loads with `docker load` / `podman load`, and is also an
 * OCI layout archive) and `<image>.oci.tar` (the OCI layout, for skopeo and registries).
 */
export const ociPacker: Packer = {
  buildType: 'docker',
  extension: 'docker.tar',
  indexKey: 'docker',

  hostTools(): HostTool[] {
    return PACK_TOOLS;
  },

  rootfsPackages(): string[] {
    // A container needs no kernel or init; bash runs the entrypoint (it is Essential anyway).
    return ['bash'];
  },

  verify(request: BuildRequest): void {
    referenceFor(request);
  },

  async prepareRootfs(input: PackInput): Promise<void> {
    await installEntrypoint(input.rootfs, input.request.recipe.bundle_distro);
  },

  async pack(input: PackInput): Promise<PackedFile[]> {
    requireHostTools(PACK_TOOLS);
    const layoutDir = join(input.scratchDir, 'oci-layout');
    const layout = await buildOciLayout(input, layoutDir);
    const epoch = timestampToEpoch(input.request.timestamp);
    const options = { log: input.log, signal: input.signal };
    const dockerArchive = join(input.stagingDir, `${input.request.imageName}.docker.tar`);
    const ociArchive = join(input.stagingDir, `${input.request.imageName}.oci.tar`);
    await archiveLayout(layoutDir, dockerArchive, 'docker', epoch, options);
    await archiveLayout(layoutDir, ociArchive, 'oci', epoch, options);
    input.log.info(`container image ${layout.reference} (manifest ${layout.manifest.digest})`);
    return [
      { path: dockerArchive, role: 'image' },
      { path: ociArchive, role: 'extra' },
    ];
  },
};
