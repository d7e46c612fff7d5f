import { UsageError } from './errors';

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
      `unknown distribution "${codename}" (known: ${Object.keys(DISTRIBUTIONS).join(', ')})`,
    );
  }
  return found;
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
