import { parse } from 'yaml';
import { UsageError } from '../../lib/core/errors';
import { distribution } from '../../lib/core/distributions';
import { BUILD_TYPES } from '../../lib/core/image';
import { imageFileName, packerFor } from '../../lib/builder/packers';
import { amiPacker } from '../../lib/builder/packers/ami';
import {
  EC2_INITRAMFS_DRIVERS, chronyConfig, cloudInitConfig, initramfsModules, missingInitramfsDrivers, sshdConfig,
} from '../../lib/builder/packers/ami/ec2-config';
import { amiPackages } from '../../lib/builder/packers/ami/packages';
import { grubConfig, kernelCmdline } from '../../lib/builder/packers/disk/boot-config';
import { diskIds } from '../../lib/builder/packers/disk/identifiers';
import { bareMetalPackages } from '../../lib/builder/packers/disk/packages';
import { BuildRequest } from '../../lib/builder/request';
import { sourceAmiWarning } from '../../lib/recipes/rosdistro';
import { loadTemplate, parseRecipe, bundledRecipesDir } from '../../lib/recipes/catalog';
import { Recipe } from '../../lib/recipes/schema';

/** An ami recipe as a catalog makes it: over the bundled ami template. */
function recipe(fields: Record<string, unknown> = {}): Recipe {
  return parseRecipe('fleet', { build_type: 'ami', os_versions: ['bookworm', 'jammy'], ...fields }, 'test', '.', (type) =>
    loadTemplate(bundledRecipesDir(), type),
  );
}

function request(r: Recipe, codename = 'bookworm'): BuildRequest {
  return { name: r.name, recipe: r, imageName: `acme_fleet_${codename}_hotdog_20261202.010000`, distribution: distribution(codename), architecture: 'amd64' } as BuildRequest;
}

describe('build type ami', () => {
  test('is a build type with its packer: the bare-metal .raw.xz, indexed under raw', () => {
    expect(BUILD_TYPES).toContain('ami');
    expect(packerFor('ami')).toBe(amiPacker);
    expect(amiPacker.indexKey).toBe('raw');
    expect(imageFileName(request(recipe()))).toBe('acme_fleet_bookworm_hotdog_20261202.010000.raw.xz');
  });

  test('the template gives a UEFI disk with the serial console on ttyS0 (115200n8) and the NVMe timeout EC2 asks for', () => {
    const r = recipe();
    expect(r.boot).toEqual({ firmware: 'uefi', serial_console: 'ttyS0,115200n8', kernel_cmdline: ['nvme_core.io_timeout=4294967295'] });
    const ids = diskIds('acme_fleet_bookworm_hotdog_20261202.010000');
    expect(kernelCmdline(r, ids, 'amd64')).toBe(`root=UUID=${ids.rootFsUuid} ro console=tty0 console=ttyS0,115200n8 nvme_core.io_timeout=4294967295`);
    expect(grubConfig(r, ids, { kernel: '/vmlinuz', initrd: '/initrd.img' }, 'Debian', 'amd64')).toMatch(/serial --unit=0 --speed=115200\n/);
    expect(r.packages).toEqual(expect.arrayContaining(['systemd-sysv', 'udev', 'sudo']));
    expect(r.files.map((f) => f.path)).toContain('/etc/systemd/network/80-wired-dhcp.network');
  });

  test("packages: the cloud kernel (Debian's cloud kernel, Ubuntu's AWS kernel), the disk's boot packages, cloud-init, chrony, sshd", () => {
    const r = recipe();
    const debian = amiPackages(r, distribution('bookworm'), 'amd64');
    expect(debian).toEqual([
      'linux-image-cloud-amd64', 'initramfs-tools', 'grub-efi-amd64-bin', 'fdisk', 'e2fsprogs',
      'cloud-init', 'chrony', 'openssh-server', 'amazon-ec2-utils',
    ]);
    const ubuntu = amiPackages(r, distribution('noble'), 'amd64');
    expect(ubuntu[0]).toBe('linux-image-aws');
    expect(ubuntu).not.toContain('amazon-ec2-utils');
    expect(ubuntu).toEqual(expect.arrayContaining(['cloud-init', 'chrony', 'openssh-server', 'grub-efi-amd64-bin']));
    // The same boot packages as bare metal, another kernel.
    expect(debian.slice(1, 5)).toEqual(bareMetalPackages(r, distribution('bookworm'), 'amd64').slice(1));
    expect(amiPacker.rootfsPackages(r, distribution('bookworm'), 'amd64')).toEqual(debian);
  });

  test('cloud-init: the Ec2 datasource alone on the IPv4 metadata address; network, growing and apt sources left alone', () => {
    const config = parse(cloudInitConfig(recipe()));
    expect(config).toEqual({
      datasource_list: ['Ec2'],
      datasource: { Ec2: { metadata_urls: ['http://169.254.169.254'], max_wait: 120, timeout: 10 } },
      network: { config: 'disabled' },
      growpart: { mode: 'off' },
      resize_rootfs: false,
      ssh_pwauth: false,
      disable_root: true,
      apt: { preserve_sources_list: true },
      locale: 'C.UTF-8',
    });
  });

  test("cloud-init: a recipe's user takes the launch key, keeps its sudo rule, and is locked only without a password", () => {
    const withPassword = parse(cloudInitConfig(recipe({ user: { name: 'locus', password: { env: 'PW' } } })));
    expect(withPassword.system_info).toEqual({ default_user: { name: 'locus', lock_passwd: false, sudo: false, shell: '/bin/bash' } });
    const keysOnly = parse(cloudInitConfig(recipe({ user: { name: 'locus' } })));
    expect(keysOnly.system_info.default_user.lock_passwd).toBe(true);
  });

  test('sshd: keys only, root never by password', () => {
    const lines = sshdConfig().split('\n').filter((line) => line && !line.startsWith('#'));
    expect(lines).toEqual(['PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'PermitRootLogin prohibit-password']);
  });

  test('chrony: the Amazon Time Sync Service is the one server, no pools', () => {
    const text = chronyConfig();
    expect(text).toMatch(/^server 169\.254\.169\.123 prefer iburst minpoll 4 maxpoll 4$/m);
    expect(text.match(/^(server|pool) /gm)).toEqual(['server ']);
  });

  test('initramfs modules: nvme and ena added once; the lines already there stay', () => {
    expect(EC2_INITRAMFS_DRIVERS).toEqual(['nvme', 'ena']);
    const debianDefault = '# List of modules that you want to include in your initramfs.\n# raid1\n';
    const once = initramfsModules(debianDefault);
    expect(once.startsWith(debianDefault)).toBe(true);
    expect(once.split('\n').filter((line) => !line.startsWith('#') && line)).toEqual(['nvme', 'ena']);
    expect(initramfsModules(once)).toBe(once);
    expect(initramfsModules('ena\nsomething')).toBe('ena\nsomething\n# EC2 (tailor-image, build_type ami): NVMe disks and the ENA network adapter\nnvme\n');
    expect(initramfsModules('')).toMatch(/^# EC2[^\n]*\nnvme\nena\n$/);
  });

  test('the initramfs check finds the drivers as modules (any compression) or built in, and names what is missing', () => {
    const listing = [
      'usr/lib/modules/6.1.0-28-cloud-amd64/kernel/drivers/nvme/host/nvme.ko',
      'usr/lib/modules/6.1.0-28-cloud-amd64/kernel/drivers/net/ethernet/amazon/ena/ena.ko.xz',
    ].join('\n');
    expect(missingInitramfsDrivers(listing, '')).toEqual([]);
    expect(missingInitramfsDrivers('usr/lib/modules/x/kernel/drivers/nvme/host/nvme-core.ko\n', '')).toEqual(['nvme', 'ena']);
    expect(missingInitramfsDrivers('lib/modules/x/kernel/drivers/net/ethernet/amazon/ena/ena.ko.zst\n', 'kernel/drivers/nvme/host/nvme.ko\n')).toEqual([]);
    expect(missingInitramfsDrivers('', 'kernel/drivers/nvme/host/nvme.ko\n')).toEqual(['ena']);
  });

  test('verify: UEFI only, the serial console on ttyS0, and the bare-metal checks', async () => {
    await expect(amiPacker.verify(request(recipe()))).resolves.toBeUndefined();
    await expect(amiPacker.verify(request(recipe({ boot: { firmware: 'bios' } })))).rejects.toThrow(
      new UsageError('recipe fleet: build_type ami boots by UEFI only (boot.firmware is bios)'),
    );
    await expect(amiPacker.verify(request(recipe({ boot: { serial_console: 'none' } })))).rejects.toThrow(
      /build_type ami needs boot\.serial_console on ttyS0 .*not "none"$/,
    );
    await expect(amiPacker.verify(request(recipe({ boot: { serial_console: 'ttyS1,115200' } })))).rejects.toThrow(UsageError);
    await expect(amiPacker.verify(request(recipe({ disk_size: 0.1 })))).rejects.toThrow(/too small for any bootable disk/);
    await expect(amiPacker.verify(request(recipe({ boot: { kernel_cmdline: ['root=/dev/sda1'] } })))).rejects.toThrow(/must not set root=/);
  });

  test("tailor's source_ami: one warning line naming the distributions, never the AMI ids; nothing for other images", () => {
    expect(sourceAmiWarning('old', { build_type: 'ami', source_ami: { focal: 'ami-1', jammy: 'ami-2' } })).toBe(
      'image "old": source_ami (given for "focal", "jammy") is not used: build_type ami makes the disk from the distribution, not from another AMI',
    );
    expect(sourceAmiWarning('old', { build_type: 'ami', source_ami: 'ami-1' })).toBe(
      'image "old": source_ami is not used: build_type ami makes the disk from the distribution, not from another AMI',
    );
    expect(sourceAmiWarning('old', { build_type: 'ami' })).toBeUndefined();
    expect(sourceAmiWarning('old', { build_type: 'bare_metal', source_ami: { focal: 'ami-1' } })).toBeUndefined();
  });
});
