import { Architecture } from '../core/architecture';
import { aptSources, Distribution } from '../core/distributions';
import { Recipe } from '../recipes/schema';
import { dpkgOptionsOf } from './dpkg-excludes';
import { BuildRequest } from './request';

/**
 * What a rootfs is bootstrapped from, made once per base tree and given as it is to
 * mmdebstrap's arguments, to the bootstrap cache's key and to the shared base.
 */
export interface BootstrapSpec {
  distribution: Distribution;
  variant: Recipe['variant'];
  /** The Debian architecture of the tree (amd64, arm64). */
  architecture: Architecture;
  /** One-line apt sources, one suite each: `deb URI SUITE COMPONENT...`. */
  sources: string[];
  packages: string[];
  /** dpkg options written into the tree before any package is installed (path-exclude of a minimised recipe). */
  dpkgOptions: string[];
}

/** The bootstrap of `packages` for a request's distribution, variant and mirrors. */
export function bootstrapSpecOf(request: BuildRequest, packages: string[]): BootstrapSpec {
  const { distribution } = request;
  const sources = aptSources(distribution, request.mirror, request.securityMirror).flatMap((source) =>
    source.suites.map((suite) => `deb ${source.uri} ${suite} ${source.components.join(' ')}`),
  );
  return { distribution, variant: request.recipe.variant, architecture: request.architecture, sources, packages, dpkgOptions: dpkgOptionsOf(request.recipe.minimise) };
}
