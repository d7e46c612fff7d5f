import { BuildError } from '../../../core/errors';
import { Rootfs } from '../../rootfs-path';
import { PackInput } from '../packer';
import {
  GROW_ROOT_SCRIPT, GROW_ROOT_SCRIPT_PATH, GROW_ROOT_UNIT, GROW_ROOT_UNIT_TEXT, GRUB_PREFIX, KernelPaths,
  fstabText, grubConfig, parseSerialConsole,
} from './boot-config';
import { diskIds } from './identifiers';
import { Firmware } from './layout';
import { Architecture } from '../../../core/architecture';
import { diskArchitecture } from './architectures';

export interface GrubPlatform {
  platform: string;
  image: string;
  modules: string[];
}

/** GRUB's platform directory and image for a firmware on an architecture (BIOS is x86's only). */
export function grubPlatform(firmware: Firmware, architecture: Architecture): GrubPlatform {
  if (firmware === 'bios') return { platform: 'i386-pc', image: 'core.img', modules: ['biosdisk', 'part_gpt', 'ext2'] };
  return { platform: diskArchitecture(architecture).grubEfiPlatform, image: 'core.efi', modules: ['part_gpt', 'ext2'] };
}

/** Where pack() finds GRUB's image: its host path, inside the rootfs. */
export function grubImagePath(rootfs: string, firmware: Firmware, architecture: Architecture): string {
  const { platform, image } = grubPlatform(firmware, architecture);
  return new Rootfs(rootfs).resolve(`/boot/grub/${platform}/${image}`);
}

/**
 * Writes the disk-specific boot set-up into the rootfs (mounted for chroot): fstab by UUID,
 * GRUB (its modules, grub.cfg and the core image made by the rootfs's own grub-mkimage),
 * a serial getty (on arm64 the getty generator's, on the consoles the kernel took), and the first-boot unit that grows the root filesystem. Host keys and
 * machine-id are the finalize stage's business.
 */
export async function prepareBareMetalRootfs(input: PackInput): Promise<void> {
  const { request } = input;
  const { recipe } = request;
  const root = new Rootfs(input.rootfs);
  if (!input.chroot) throw new BuildError('bare_metal: prepareRootfs needs the rootfs mounted for chroot');
  const firmware = recipe.boot.firmware;
  const ids = diskIds(request.imageName);

  const previous = root.exists('/etc/fstab') ? await root.readFile('/etc/fstab', 'utf8') : '';
  await root.writeFile('/etc/fstab', fstabText(previous, firmware, ids));
  if (firmware === 'uefi') await root.mkdirp('/boot/efi');

  const { architecture } = request;
  const { platform, image, modules } = grubPlatform(firmware, architecture);
  const source = `/usr/lib/grub/${platform}`;
  if (!root.exists(source)) throw new BuildError(`bare_metal: the rootfs has no GRUB for ${platform} (${source})`);
  const target = `/boot/grub/${platform}`;
  await root.remove(target);
  await root.mkdirp(target);
  for (const name of root.list(source)) {
    if (/\.(mod|lst|img)$/.test(name)) await root.copyIn(root.resolve(`${source}/${name}`), `${target}/${name}`);
  }
  await makeMissingInitramfs(root, input.chroot);
  await input.chroot.run(
    ['grub-mkimage', '-O', platform, '-d', source, '-p', GRUB_PREFIX, '-o', `${target}/${image}`, ...modules],
    { describe: `grub-mkimage (${platform})` },
  );
  await root.writeFile('/boot/grub/grub.cfg', grubConfig(recipe, ids, kernelPaths(root), await osName(root), architecture));

  const serial = parseSerialConsole(recipe.boot.serial_console);
  if (serial && diskArchitecture(architecture).serialGetty === 'enabled') await enableUnit(root, 'getty.target.wants', `serial-getty@${serial.device}.service`, '/lib/systemd/system/serial-getty@.service');

  await root.writeFile(GROW_ROOT_SCRIPT_PATH, GROW_ROOT_SCRIPT, { mode: 0o755 });
  await root.writeFile(`/etc/systemd/system/${GROW_ROOT_UNIT}`, GROW_ROOT_UNIT_TEXT);
  await enableUnit(root, 'local-fs.target.wants', GROW_ROOT_UNIT, `/etc/systemd/system/${GROW_ROOT_UNIT}`);
}

/**
 * An initramfs for every kernel that has none, and the kernel links that name it. The
 * bootstrap's installs leave the initramfs to initramfs-tools' trigger (INITRD=No,
 * PACKAGE_INSTALL_ENV), which does not fire when a kernel comes after initramfs-tools (a recipe
 * step's install, say); and with INITRD=No linux-base leaves out the `initrd.img` link beside
 * `vmlinuz`, which grub.cfg boots through (so a kernel upgrade on the machine keeps booting):
 * it is made again once the initramfs is there, as the kernel's postinst would have.
 */
async function makeMissingInitramfs(root: Rootfs, chroot: NonNullable<PackInput['chroot']>): Promise<void> {
  const versions = root.list('/boot')
    .filter((name) => name.startsWith('vmlinuz-'))
    .map((name) => name.slice('vmlinuz-'.length))
    .filter((version) => root.exists(`/lib/modules/${version}`))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  for (const version of versions) {
    if (root.exists(`/boot/initrd.img-${version}`)) continue;
    await chroot.run(['update-initramfs', '-c', '-k', version], { describe: `update-initramfs -c -k ${version}` });
  }
  const linked = ['/boot', ''].some((dir) => root.lstat(`${dir}/vmlinuz`) !== undefined && root.lstat(`${dir}/initrd.img`) !== undefined);
  if (linked || versions.length === 0 || !root.exists('/usr/bin/linux-update-symlinks')) return;
  for (const version of versions) {
    await chroot.run(['linux-update-symlinks', 'install', version, `/boot/vmlinuz-${version}`], { describe: `linux-update-symlinks install ${version}` });
  }
}

async function enableUnit(root: Rootfs, wantsDir: string, unit: string, target: string): Promise<void> {
  await root.symlink(target, `/etc/systemd/system/${wantsDir}/${unit}`);
}

/** The kernel links the distribution maintains: /boot/vmlinuz (Ubuntu) or /vmlinuz (Debian). */
export function kernelPaths(root: Rootfs): KernelPaths {
  const exists = (path: string) => root.lstat(path) !== undefined;
  for (const dir of ['/boot', '']) {
    if (exists(`${dir}/vmlinuz`) && exists(`${dir}/initrd.img`)) {
      const old = exists(`${dir}/vmlinuz.old`) && exists(`${dir}/initrd.img.old`);
      return {
        kernel: `${dir}/vmlinuz`,
        initrd: `${dir}/initrd.img`,
        oldKernel: old ? `${dir}/vmlinuz.old` : undefined,
        oldInitrd: old ? `${dir}/initrd.img.old` : undefined,
      };
    }
  }
  const versions = root.list('/boot')
    .filter((name) => name.startsWith('vmlinuz-'))
    .map((name) => name.slice('vmlinuz-'.length))
    .filter((version) => exists(`/boot/initrd.img-${version}`))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const newest = versions.at(-1);
  if (!newest) throw new BuildError('bare_metal: the rootfs has no kernel with an initramfs in /boot (is the kernel package installed?)');
  return { kernel: `/boot/vmlinuz-${newest}`, initrd: `/boot/initrd.img-${newest}` };
}

async function osName(root: Rootfs): Promise<string> {
  for (const file of ['/etc/os-release', '/usr/lib/os-release']) {
    if (!root.exists(file)) continue;
    const match = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(await root.readFile(file, 'utf8'));
    if (match) return match[1];
  }
  return 'Linux';
}
