import { UsageError } from './errors';
import { quote } from './message-text';

/**
 * The CPU architectures an image is built for, by their Debian names. amd64 is the default
 * and keeps every name, tag and index entry as it always was; any other architecture is
 * written into the name field of the image name (`webapp-arm64`, see archNameField).
 */
export const ARCHITECTURES = ['amd64', 'arm64'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];
export const DEFAULT_ARCHITECTURE: Architecture = 'amd64';

/** What each consumer calls the architecture. */
export interface ArchitectureNames {
  /** Debian's name (dpkg, mmdebstrap, package names): amd64, arm64. */
  debian: Architecture;
  /** The kernel's (`uname -m`), which LXD's metadata also uses: x86_64, aarch64. */
  kernel: 'x86_64' | 'aarch64';
  /** OCI's (GOARCH) in image configs and index platforms: amd64, arm64. */
  oci: 'amd64' | 'arm64';
  /** EC2 RegisterImage's: x86_64, arm64. */
  ec2: 'x86_64' | 'arm64';
  /** Node's process.arch on such a host: x64, arm64. */
  node: string;
}

const NAMES: Record<Architecture, ArchitectureNames> = {
  amd64: { debian: 'amd64', kernel: 'x86_64', oci: 'amd64', ec2: 'x86_64', node: 'x64' },
  arm64: { debian: 'arm64', kernel: 'aarch64', oci: 'arm64', ec2: 'arm64', node: 'arm64' },
};

export function architectureNames(architecture: Architecture): ArchitectureNames {
  return NAMES[architecture];
}

export function isArchitecture(value: string): value is Architecture {
  return (ARCHITECTURES as readonly string[]).includes(value);
}

/** Checks an --arch value. */
export function checkArchitecture(value: string, flag = '--arch'): Architecture {
  if (!isArchitecture(value)) throw new UsageError(`${flag} ${quote(value)} is not an architecture (${ARCHITECTURES.join(', ')})`);
  return value;
}

/** This host's architecture, if it is one the builder knows (from Node's process.arch). */
export function hostArchitecture(nodeArch: string = process.arch): Architecture | undefined {
  return ARCHITECTURES.find((arch) => NAMES[arch].node === nodeArch);
}

/**
 * The name field of an image name for a recipe built for an architecture: the recipe name
 * for amd64 (so amd64 names and index entries stay what tailor wrote), `<name>-<arch>`
 * otherwise. Recipe names may not end in an architecture suffix (checkRecipeName), so the
 * field says both unambiguously.
 */
export function archNameField(name: string, architecture: Architecture): string {
  return architecture === DEFAULT_ARCHITECTURE ? name : `${name}-${architecture}`;
}

/** Splits a name field into the recipe name and its architecture (amd64 when it has no suffix). */
export function splitArchNameField(field: string): { name: string; architecture: Architecture } {
  for (const arch of ARCHITECTURES) {
    if (arch !== DEFAULT_ARCHITECTURE && field.endsWith(`-${arch}`)) return { name: field.slice(0, -arch.length - 1), architecture: arch };
  }
  return { name: field, architecture: DEFAULT_ARCHITECTURE };
}

/** A recipe name may not end in `-<architecture>`: that suffix marks a build's architecture in image names. */
export function checkRecipeName(name: string): string {
  const arch = ARCHITECTURES.find((a) => name.endsWith(`-${a}`));
  if (arch !== undefined) {
    throw new UsageError(`image name ${quote(name)} must not end in "-${arch}" (that suffix names an ${arch} build in image names; build it with --arch ${arch})`);
  }
  return name;
}
