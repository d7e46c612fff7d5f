import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BuildError, UsageError } from './errors';
import { quote } from './message-text';
import { primaryKeyFingerprints } from './openpgp';

/** What the builder knows about each distribution it can bootstrap. */
export interface Distribution {
  codename: string;
  os: 'ubuntu' | 'debian';
  version: string;
  /** The archive mmdebstrap installs from (overridable with --mirror). */
  mirror: string;
  /** Where security updates come from; same archive for Ubuntu, a separate one for Debian. */
  securityMirror: string;
  components: string[];
  /** Suites added beside the release itself. */
  pockets: string[];
  securitySuite: string;
  keyring: string;
  /** The host package that provides the keyring. */
  keyringPackage: string;
}

const UBUNTU_KEYRING = '/usr/share/keyrings/ubuntu-archive-keyring.gpg';
const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

function ubuntu(codename: string, version: string): Distribution {
  return {
    codename,
    os: 'ubuntu',
    version,
    mirror: 'http://archive.ubuntu.com/ubuntu',
    securityMirror: 'http://security.ubuntu.com/ubuntu',
    components: ['main', 'restricted', 'universe'],
    pockets: [`${codename}-updates`],
    securitySuite: `${codename}-security`,
    keyring: UBUNTU_KEYRING,
    keyringPackage: 'ubuntu-keyring',
  };
}

function debian(codename: string, version: string): Distribution {
  return {
    codename,
    os: 'debian',
    version,
    mirror: 'http://deb.debian.org/debian',
    securityMirror: 'http://deb.debian.org/debian-security',
    components: ['main'],
    pockets: [`${codename}-updates`],
    securitySuite: `${codename}-security`,
    keyring: DEBIAN_KEYRING,
    keyringPackage: 'debian-archive-keyring',
  };
}

export const DISTRIBUTIONS: Readonly<Record<string, Distribution>> = {
  focal: ubuntu('focal', '20.04'),
  jammy: ubuntu('jammy', '22.04'),
  noble: ubuntu('noble', '24.04'),
  bookworm: debian('bookworm', '12'),
  trixie: debian('trixie', '13'),
};

export function distribution(codename: string): Distribution {
  const found = DISTRIBUTIONS[codename];
  if (!found) {
    throw new UsageError(
      `unknown distribution ${quote(codename)} (known: ${Object.keys(DISTRIBUTIONS).join(', ')})`,
    );
  }
  return found;
}

/**
 * The Ubuntu archive's signing keys, shipped with the builder (keyrings/, see its README)
 * for hosts without ubuntu-keyring (Debian 12 has no such package): the 2012 key signs
 * focal, the 2018 key every release since. Used only for Ubuntu, only when the host has
 * no keyring of its own, and only when it holds exactly these keys.
 */
export const UBUNTU_ARCHIVE_FINGERPRINTS: readonly string[] = [
  '790BC7277767219C42C86F933B4FE6ACC0B21F32', // Ubuntu Archive Automatic Signing Key (2012)
  'F6ECB3762474EDA9D21B7022871920D1991BC93C', // Ubuntu Archive Automatic Signing Key (2018)
];

const SHIPPED_UBUNTU_KEYRING = join('keyrings', 'ubuntu-archive-keyring.gpg');

/** The keyring shipped beside the builder (found upwards from this file or the bundle), if any. */
export function shippedUbuntuKeyring(from = __dirname): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, SHIPPED_UBUNTU_KEYRING);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/** Checks that a keyring holds exactly the pinned keys; a BuildError otherwise. */
export function checkPinnedKeyring(path: string, pinned: readonly string[] = UBUNTU_ARCHIVE_FINGERPRINTS): string {
  let found: string[];
  try {
    found = primaryKeyFingerprints(readFileSync(path));
  } catch (error) {
    throw new BuildError(`the shipped keyring ${path} cannot be read as an OpenPGP keyring (${(error as Error).message})`);
  }
  const same = found.length === pinned.length && pinned.every((fingerprint) => found.includes(fingerprint));
  if (!same) {
    throw new BuildError(`the shipped keyring ${path} does not hold exactly the pinned keys (${pinned.join(', ')}); reinstall tailor-image`);
  }
  return path;
}

/**
 * The distribution with a keyring this host has: its own (the keyring package), or for
 * Ubuntu the shipped one, checked against its pinned fingerprints.
 */
export function withUsableKeyring(
  distro: Distribution,
  options: { exists?: (path: string) => boolean; shipped?: string | undefined } = {},
): Distribution {
  const exists = options.exists ?? existsSync;
  if (distro.os !== 'ubuntu' || exists(distro.keyring)) return distro;
  const shipped = 'shipped' in options ? options.shipped : shippedUbuntuKeyring();
  if (shipped === undefined) return distro;
  return { ...distro, keyring: checkPinnedKeyring(shipped) };
}

/** What to do when a distribution's keyring is missing, advice that works on this kind of host. */
export function missingKeyringAdvice(distro: Distribution): string {
  if (distro.os === 'ubuntu') {
    return `install with: apt-get install ${distro.keyringPackage} (on Ubuntu, or Debian 13 and later), ` +
      `or reinstall tailor-image, whose ${SHIPPED_UBUNTU_KEYRING} is missing`;
  }
  return `install with: apt-get install ${distro.keyringPackage}`;
}

export interface AptSource {
  uri: string;
  suites: string[];
  components: string[];
}

/**
 * The archives an image is built from and keeps in its sources. --mirror replaces the
 * main archive; the security archive stays unless --security-mirror says otherwise
 * ("none" leaves it out, for mirrors that already carry it or offline labs).
 */
export function aptSources(distro: Distribution, mirror?: string, securityMirror?: string): AptSource[] {
  const main: AptSource = {
    uri: stripSlash(mirror ?? distro.mirror),
    suites: [distro.codename, ...distro.pockets],
    components: distro.components,
  };
  if (securityMirror === 'none') return [main];
  const security: AptSource = {
    uri: stripSlash(securityMirror ?? distro.securityMirror),
    suites: [distro.securitySuite],
    components: distro.components,
  };
  return [main, security];
}

function stripSlash(uri: string): string {
  return uri.replace(/\/+$/, '');
}
