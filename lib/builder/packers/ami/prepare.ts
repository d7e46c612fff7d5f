import { BuildError } from '../../../core/errors';
import { Rootfs } from '../../rootfs-path';
import { PackInput } from '../packer';
import { prepareBareMetalRootfs } from '../disk/prepare';
import {
  CHRONY_CONFIG_PATH, CLOUD_INIT_CONFIG_PATH, INITRAMFS_MODULES_PATH, SSHD_CONFIG_PATH,
  chronyConfig, cloudInitConfig, initramfsModules, missingInitramfsDrivers, sshdConfig,
} from './ec2-config';

/**
 * The bare-metal disk's boot set-up (fstab, GRUB, serial getty, the root-growing unit), then
 * what makes it an EC2 machine: cloud-init on the metadata service, keys-only ssh, no root
 * password, chrony on the Amazon Time Sync Service, and the NVMe and ENA drivers in the
 * initramfs (rebuilt, then checked).
 */
export async function prepareAmiRootfs(input: PackInput): Promise<void> {
  if (!input.chroot) throw new BuildError('ami: prepareRootfs needs the rootfs mounted for chroot');
  const chroot = input.chroot;
  await prepareBareMetalRootfs(input);
  const root = new Rootfs(input.rootfs);
  const { recipe } = input.request;

  await root.writeFile(CLOUD_INIT_CONFIG_PATH, cloudInitConfig(recipe));
  await root.writeFile(SSHD_CONFIG_PATH, sshdConfig());
  await root.writeFile(CHRONY_CONFIG_PATH, chronyConfig());
  await chroot.run(['usermod', '--lock', 'root'], { describe: 'usermod --lock root (no root password)' });

  const previous = root.exists(INITRAMFS_MODULES_PATH) ? await root.readFile(INITRAMFS_MODULES_PATH, 'utf8') : '';
  await root.writeFile(INITRAMFS_MODULES_PATH, initramfsModules(previous));
  await chroot.run(['update-initramfs', '-u', '-k', 'all'], { describe: 'update-initramfs (NVMe and ENA drivers)' });
  for (const version of root.list('/lib/modules')) {
    const initrd = `/boot/initrd.img-${version}`;
    if (!root.exists(initrd)) continue;
    const listing = await chroot.run(['lsinitramfs', initrd], { capture: true, describe: `lsinitramfs ${initrd}` });
    const builtinPath = `/lib/modules/${version}/modules.builtin`;
    const builtin = root.exists(builtinPath) ? await root.readFile(builtinPath, 'utf8') : '';
    const missing = missingInitramfsDrivers(listing.stdout, builtin);
    if (missing.length > 0) {
      throw new BuildError(`ami: the initramfs of kernel ${version} lacks the ${missing.join(' and ')} driver${missing.length > 1 ? 's' : ''} EC2 machines boot with`);
    }
  }
}
