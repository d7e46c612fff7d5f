/**
 * The environments of the commands that touch an image. None inherits the builder's
 * environment wholesale: it may hold AWS keys, registry passwords and the recipes'
 * password variables, and whatever a command gets, the maintainer scripts and hooks it
 * runs see (mmdebstrap passes its environment to every package's scripts).
 */

/** Commands run inside the image (chroot): a fixed environment, nothing from the host. */
/**
 * Given to the package installs of the bootstrap (mmdebstrap and the extra packages): a kernel
 * package's postinst then makes no initramfs of its own (INITRD=No, honoured by initramfs-tools'
 * kernel hook on Debian and Ubuntu). initramfs-tools' trigger, run once at the end of the same
 * install, makes it; the disk packer makes any still missing. Without this the initramfs is made
 * twice per kernel: minutes under qemu-user for an arm64 disk (docs/ARM64.md).
 */
export const PACKAGE_INSTALL_ENV: Readonly<Record<string, string>> = { INITRD: 'No' };

export const CHROOT_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root',
  LC_ALL: 'C.UTF-8',
  LANG: 'C.UTF-8',
  DEBIAN_FRONTEND: 'noninteractive',
  DEBCONF_NONINTERACTIVE_SEEN: 'true',
  TERM: 'dumb',
};

/**
 * Host variables a host tool working on the image may see: where programs are, its
 * temporary folder (mmdebstrap honours TMPDIR), a reproducible build time, and the proxies
 * a mirror may only be reachable through (passed as they are: a proxy that needs a login
 * carries it in its URL).
 */
export const PASSED_HOST_VARIABLES = [
  'PATH',
  'TMPDIR',
  'SOURCE_DATE_EPOCH',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
] as const;

/**
 * The environment of a host tool that works on the image (mmdebstrap, dpkg-query, tar,
 * mkfs, mtools...): the PASSED_HOST_VARIABLES that are set, a C.UTF-8 locale, HOME=/root,
 * and `extra` (the tool's own settings).
 */
export function hostToolEnv(extra: Record<string, string> = {}, from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = { HOME: '/root', LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8' };
  for (const name of PASSED_HOST_VARIABLES) {
    const value = from[name];
    if (value !== undefined) env[name] = value;
  }
  env.PATH ??= '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  return { ...env, ...extra };
}
