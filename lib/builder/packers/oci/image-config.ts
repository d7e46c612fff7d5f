import { relative } from 'node:path';
import { architectureNames } from '../../../core/architecture';
import { BuildRequest } from '../../request';
import { Recipe } from '../../../recipes/schema';
import { ENTRYPOINT_PATH } from './entrypoint';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Where tailor installs the org bundle: `/opt/<organization>/<release_label>/<flavour>`. */
export function bundleRoot(organization: string, releaseLabel: string, flavour: string): string {
  return `/opt/${organization}/${releaseLabel}/${flavour}`;
}

/** Seconds since the epoch as the RFC 3339 time OCI uses, without fractions. */
export function rfc3339(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export interface ImageFacts {
  request: BuildRequest;
  recipe: Recipe;
  /** The user the container runs as, and its home (read from the rootfs). */
  user: string;
  home: string;
  /** sha256:<hex> of each uncompressed layer, bottom first, with what it holds (the history comment). */
  layers: { diffId: string; comment: string }[];
  /** The build timestamp as seconds since the epoch. */
  epoch: number;
  architecture: string;
}

/** The OCI annotations / labels that describe the image (reproducible: from the build timestamp). */
export function imageLabels(facts: ImageFacts): Record<string, string> {
  const { request, recipe } = facts;
  const origin = relative(recipe.baseDir, recipe.origin) || recipe.origin;
  return {
    tailor: 'docker_image',
    'org.opencontainers.image.created': rfc3339(facts.epoch),
    'org.opencontainers.image.version': `${request.releaseLabel}-${request.timestamp}`,
    'org.opencontainers.image.title': request.imageName,
    'org.opencontainers.image.source': `tailor-image:${origin.startsWith('..') ? recipe.name : origin}`,
    'org.opencontainers.image.description': recipe.description || `${request.name} for ${request.distribution.codename}`,
    'tailor.organization': request.organization,
    'tailor.release_label': request.releaseLabel,
    'tailor.distribution': request.distribution.codename,
    ...recipe.docker.labels,
  };
}

/**
 * The image configuration (application/vnd.oci.image.config.v1+json). Keys are written in
 * a fixed order so the same inputs always give the same bytes.
 */
export function imageConfig(facts: ImageFacts): Record<string, unknown> {
  const { request, recipe } = facts;
  const env: Record<string, string> = {
    PATH: DEFAULT_PATH,
    LANG: 'C.UTF-8',
    BUNDLE_ROOT: bundleRoot(request.organization, request.releaseLabel, request.flavour),
    ...recipe.docker.env,
  };
  const created = rfc3339(facts.epoch);
  return {
    created,
    architecture: facts.architecture,
    os: 'linux',
    config: {
      User: facts.user,
      Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
      Entrypoint: [ENTRYPOINT_PATH],
      Cmd: recipe.docker.cmd.length > 0 ? recipe.docker.cmd : ['bash'],
      WorkingDir: facts.home,
      Labels: sortKeys(imageLabels(facts)),
    },
    rootfs: { type: 'layers', diff_ids: facts.layers.map((layer) => layer.diffId) },
    history: facts.layers.map((layer) => ({
      created, created_by: `tailor-image ${request.name} ${request.distribution.codename}`, comment: layer.comment,
    })),
  };
}

/** The OCI (GOARCH) name of the architecture the build is for, never the build host's. */
export function ociArchitecture(request: Pick<BuildRequest, 'architecture'>): string {
  return architectureNames(request.architecture).oci;
}

export function sortKeys(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
