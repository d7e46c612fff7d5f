import { PackageURL } from 'packageurl-js';
import { Rootfs } from '../rootfs-path';
import { licenceOfCopyright } from './dep5-licence';
import { InstalledPackage, installedPackages } from './dpkg-status';

/** The distribution a purl names: `pkg:deb/<os>/...&distro=<os>-<version>`. */
export interface PurlDistribution {
  os: string;
  version: string;
}

/** An installed package with what an SBOM says of it. */
export interface SbomPackage extends InstalledPackage {
  purl: string;
  /** An SPDX expression, or NOASSERTION. */
  licence: string;
}

/** `pkg:deb/debian/libc6@2.36-9?arch=amd64&distro=debian-12`, made by packageurl-js. */
export function debPurl(pkg: Pick<InstalledPackage, 'name' | 'version' | 'architecture'>, distribution: PurlDistribution): string {
  return new PackageURL('deb', distribution.os, pkg.name, pkg.version, { arch: pkg.architecture, distro: `${distribution.os}-${distribution.version}` }, undefined).toString();
}

/**
 * The image's packages, read from its dpkg database inside the rootfs, each with its purl
 * and its licence from `/usr/share/doc/<package>/copyright` (links followed inside the
 * rootfs; a multi-arch package's doc directory is shared by its architectures).
 */
export async function imagePackages(rootfs: string, distribution: PurlDistribution): Promise<SbomPackage[]> {
  const image = new Rootfs(rootfs);
  const status = await image.readFile('/var/lib/dpkg/status', 'utf8');
  const licences = new Map<string, string>();
  const out: SbomPackage[] = [];
  for (const pkg of installedPackages(status)) {
    let licence = licences.get(pkg.name);
    if (licence === undefined) {
      licence = licenceOfCopyright(await readIfThere(image, `/usr/share/doc/${pkg.name}/copyright`));
      licences.set(pkg.name, licence);
    }
    out.push({ ...pkg, purl: debPurl(pkg, distribution), licence });
  }
  return out;
}

/** A text file of the image, or undefined when it is missing or unreadable (a licence is then unknown). */
async function readIfThere(image: Rootfs, path: string): Promise<string | undefined> {
  try {
    return await image.readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}
