import { UsageError } from './errors';

/**
 * Where a docker image goes, as given to --docker-registry: a host (with an optional port
 * and path prefix), optionally prefixed with http:// to say the registry speaks plain HTTP
 * (a lab or loopback registry). https:// is accepted and means the default.
 */
export interface RegistryTarget {
  /** host[:port][/prefix] without the scheme. */
  registry: string;
  /** The host[:port] part, the key credentials are stored under. */
  host: string;
  /** Plain HTTP or an unverified TLS certificate is allowed (http:// prefix, or localhost). */
  insecure: boolean;
}

const REGISTRY_PATTERN = /^[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[a-z0-9._/-]+)?$/;

export function parseRegistry(value: string, options: { insecure?: boolean } = {}): RegistryTarget {
  let rest = value.trim();
  let insecure = options.insecure ?? false;
  if (rest.startsWith('http://')) {
    insecure = true;
    rest = rest.slice('http://'.length);
  } else if (rest.startsWith('https://')) {
    rest = rest.slice('https://'.length);
  }
  rest = rest.replace(/\/+$/, '');
  if (!REGISTRY_PATTERN.test(rest)) {
    throw new UsageError(`--docker-registry "${value}" is not a registry (host[:port][/path], optionally http://)`);
  }
  const host = rest.split('/')[0];
  const hostname = host.replace(/:[0-9]+$/, '');
  if (hostname === 'localhost' || hostname === '127.0.0.1' || hostname === '[::1]') insecure = true;
  return { registry: rest, host, insecure };
}

/** The tag tailor gives an image: `tailor-image-<name>-<distribution>-<release_label>`. */
export function imageTag(parts: { name: string; distribution: string; releaseLabel: string }): string {
  const tag = `tailor-image-${parts.name}-${parts.distribution}-${parts.releaseLabel}`;
  // Registry tags: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) {
    throw new UsageError(`image tag "${tag}" is not a valid registry tag`);
  }
  return tag;
}

/** The repository path in the registry: the recipe's docker.repository or the organization. */
export function repositoryName(repository: string | undefined, organization: string): string {
  const name = (repository ?? organization).toLowerCase();
  if (!/^[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/.test(name)) {
    throw new UsageError(`docker repository "${name}" is not a valid registry repository name`);
  }
  return name;
}

/** `<registry>/<repository>:<tag>`, or `<repository>:<tag>` when there is no registry. */
export function imageReference(registry: RegistryTarget | undefined, repository: string, tag: string): string {
  return registry ? `${registry.registry}/${repository}:${tag}` : `${repository}:${tag}`;
}
