import { Recipe } from '../../../recipes/schema';

/**
 * The text of what makes a bare-metal disk an EC2 machine: cloud-init on the EC2 metadata
 * service only, keys-only ssh, time from the Amazon Time Sync Service, the storage and
 * network drivers EC2's Nitro machines need in the initramfs. Pure functions of the recipe,
 * unit-tested on their own; prepare.ts writes them into the rootfs.
 */

/** The instance metadata service (IMDS), as EC2 serves it to every instance. */
export const IMDS_ADDRESS = '169.254.169.254';
/** The Amazon Time Sync Service, reachable from every instance without internet access. */
export const TIME_SYNC_ADDRESS = '169.254.169.123';

/** Nitro machines' EBS and instance-store disks (nvme) and network (ena). */
export const EC2_INITRAMFS_DRIVERS = ['nvme', 'ena'] as const;

/** Sorted last in cloud.cfg.d (cloud-init and ds-identify let the last file win). */
export const CLOUD_INIT_CONFIG_PATH = '/etc/cloud/cloud.cfg.d/99_tailor-image-ec2.cfg';
/** Sorted before cloud-init's own 50-cloud-init.conf: sshd takes the first value it reads. */
export const SSHD_CONFIG_PATH = '/etc/ssh/sshd_config.d/40-tailor-image-ami.conf';
export const CHRONY_CONFIG_PATH = '/etc/chrony/chrony.conf';
export const INITRAMFS_MODULES_PATH = '/etc/initramfs-tools/modules';

/**
 * cloud-init: the Ec2 datasource alone, at the IPv4 metadata address. On a machine whose
 * firmware says it is EC2 (SMBIOS product UUID and serial starting with "ec2", vendor
 * "Amazon EC2") cloud-init's Ec2 datasource asks for an IMDSv2 session token (PUT
 * /latest/api/token) and sends it with every read, so instances launched with
 * HttpTokens=required work. It installs the launch key pair for the default user, sets the
 * host name from local-hostname and runs the user data.
 *
 * What it must leave alone: the network (systemd-networkd's DHCP from the template), the
 * root partition (grown by the disk's first-boot unit), the image's apt sources. The locale
 * is C.UTF-8 (cloud-init's default, en_US.UTF-8, is not generated in the image). ssh
 * password login is off (ssh_pwauth). The key goes to the distribution's default user
 * ("debian" on Debian, "ubuntu" on Ubuntu, as on their official images: sudo without a
 * password, no password), or to the recipe's user when it has one: then cloud-init only
 * adds the key, keeps the recipe's sudo rule, and locks the password when the recipe gave none.
 */
export function cloudInitConfig(recipe: Recipe): string {
  const lines = [
    '# Written by tailor-image (build_type ami): the EC2 instance metadata service only (IMDSv2).',
    'datasource_list: [ Ec2 ]',
    'datasource:',
    '  Ec2:',
    `    metadata_urls: [ 'http://${IMDS_ADDRESS}' ]`,
    '    max_wait: 120',
    '    timeout: 10',
    '# The network is systemd-networkd\'s (DHCP on every wired interface).',
    'network:',
    '  config: disabled',
    '# The root partition and filesystem are grown by tailor-grow-root.service at first boot.',
    'growpart:',
    "  mode: 'off'",
    'resize_rootfs: false',
    'ssh_pwauth: false',
    'disable_root: true',
    'apt:',
    '  preserve_sources_list: true',
    '# As Debian\'s cloud images: C.UTF-8, which every glibc has (nothing to generate).',
    'locale: C.UTF-8',
  ];
  const user = recipe.user;
  if (user) {
    lines.push(
      '# The launch key pair goes to the recipe\'s user.',
      'system_info:',
      '  default_user:',
      `    name: ${user.name}`,
      `    lock_passwd: ${user.password === undefined}`,
      '    sudo: false',
      `    shell: ${user.shell}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** sshd: keys only; root never by password (cloud-init's disable_root keeps it off keys too). */
export function sshdConfig(): string {
  return [
    '# Written by tailor-image (build_type ami): log in with the launch key pair, never a password.',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    '',
  ].join('\n');
}

/** chrony: the Amazon Time Sync Service alone (as Debian's EC2 images do), polled every 16 s. */
export function chronyConfig(): string {
  return [
    '# Written by tailor-image (build_type ami): time from the Amazon Time Sync Service.',
    `server ${TIME_SYNC_ADDRESS} prefer iburst minpoll 4 maxpoll 4`,
    '# More sources may be added as files here.',
    'sourcedir /etc/chrony/sources.d',
    'keyfile /etc/chrony/chrony.keys',
    'driftfile /var/lib/chrony/chrony.drift',
    'logdir /var/log/chrony',
    'maxupdateskew 100.0',
    'rtcsync',
    'makestep 1 3',
    'leapsectz right/UTC',
    '',
  ].join('\n');
}

/** initramfs-tools' module list with the EC2 drivers added (lines already there stay). */
export function initramfsModules(previous: string): string {
  const present = new Set(
    previous.split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#')).map((line) => line.split(/\s+/)[0]),
  );
  const added = EC2_INITRAMFS_DRIVERS.filter((driver) => !present.has(driver));
  if (added.length === 0) return previous;
  const base = previous === '' || previous.endsWith('\n') ? previous : `${previous}\n`;
  return `${base}# EC2 (tailor-image, build_type ami): NVMe disks and the ENA network adapter\n${added.join('\n')}\n`;
}

/**
 * The EC2 drivers missing from an initramfs: neither listed by lsinitramfs (as a module,
 * compressed or not) nor built into the kernel (modules.builtin).
 */
export function missingInitramfsDrivers(initramfsListing: string, modulesBuiltin: string): string[] {
  const files = initramfsListing.split('\n');
  const builtin = modulesBuiltin.split('\n');
  const module = (driver: string) => new RegExp(`/${driver}\\.ko(\\.(xz|zst|gz))?$`);
  return EC2_INITRAMFS_DRIVERS.filter(
    (driver) => !files.some((line) => module(driver).test(line.trim())) && !builtin.some((line) => module(driver).test(line.trim())),
  );
}
