import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { copyFile, chmod, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildError } from '../../../core/errors';
import { PackInput } from '../packer';
import {
  GROW_ROOT_SCRIPT, GROW_ROOT_SCRIPT_PATH, GROW_ROOT_UNIT, GROW_ROOT_UNIT_TEXT, GRUB_PREFIX, KernelPaths,
  fstabText, grubConfig, parseSerialConsole,
} from './boot-config';
import { diskIds } from './identifiers';
import { Firmware } from './layout';

/** GRUB's platform directory and image for each firmware. */
export const GRUB_PLATFORMS: Record<Firmware, { platform: string; image: string; modules: string[] }> = {
  uefi: { platform: 'x86_64-efi', image: 'core.efi', modules: ['part_gpt', 'ext2'] },
  bios: { platform: 'i386-pc', image: 'core.img', modules: ['biosdisk', 'part_gpt', 'ext2'] },
};

/** Where pack() finds GRUB's image, inside the rootfs. */
export function grubImagePath(rootfs: string, firmware: Firmware): string {
  const { platform, image } = GRUB_PLATFORMS[firmware];
  return join(rootfs, 'boot/grub', platform, image);
}

/**
 * Writes the disk-specific boot set-up into the rootfs (mounted for chroot): fstab by UUID,
 * GRUB (its modules, grub.cfg and the core image made by the rootfs's own grub-mkimage),
 * a serial getty, and the first-boot unit that grows the root filesystem. Host keys and
 * machine-id are the finalize stage's business.
 */
export async function prepareBareMetalRootfs(input: PackInput): Promise<void> {
  const { rootfs: root, request } = input;
  const { recipe } = request;
  if (!input.chroot) throw new BuildError('bare_metal: prepareRootfs needs the rootfs mounted for chroot');
  const firmware = recipe.boot.firmware;
  const ids = diskIds(request.imageName);

  const fstab = join(root, 'etc/fstab');
  const previous = existsSync(fstab) ? await readFile(fstab, 'utf8') : '';
  await writeFile(fstab, fstabText(previous, firmware, ids));
  if (firmware === 'uefi') await mkdir(join(root, 'boot/efi'), { recursive: true });

  const { platform, image, modules } = GRUB_PLATFORMS[firmware];
  const source = join(root, 'usr/lib/grub', platform);
  if (!existsSync(source)) throw new BuildError(`bare_metal: the rootfs has no GRUB for ${platform} (/usr/lib/grub/${platform})`);
  const target = join(root, 'boot/grub', platform);
  await rm(target, { recursive: true, force: true });
  await mkdir(target, { recursive: true });
  for (const name of readdirSync(source)) {
    if (/\.(mod|lst|img)$/.test(name)) await copyFile(join(source, name), join(target, name));
  }
  await input.chroot.run(
    ['grub-mkimage', '-O', platform, '-d', `/usr/lib/grub/${platform}`, '-p', GRUB_PREFIX, '-o', `/boot/grub/${platform}/${image}`, ...modules],
    { describe: `grub-mkimage (${platform})` },
  );
  await writeFile(join(root, 'boot/grub/grub.cfg'), grubConfig(recipe, ids, kernelPaths(root), await osName(root)));

  const serial = parseSerialConsole(recipe.boot.serial_console);
  if (serial) await enableUnit(root, 'getty.target.wants', `serial-getty@${serial.device}.service`, '/lib/systemd/system/serial-getty@.service');

  const script = join(root, GROW_ROOT_SCRIPT_PATH);
  await mkdir(join(script, '..'), { recursive: true });
  await writeFile(script, GROW_ROOT_SCRIPT);
  await chmod(script, 0o755);
  await writeFile(join(root, 'etc/systemd/system', GROW_ROOT_UNIT), GROW_ROOT_UNIT_TEXT);
  await enableUnit(root, 'local-fs.target.wants', GROW_ROOT_UNIT, `/etc/systemd/system/${GROW_ROOT_UNIT}`);
}

async function enableUnit(root: string, wantsDir: string, unit: string, target: string): Promise<void> {
  const dir = join(root, 'etc/systemd/system', wantsDir);
  await mkdir(dir, { recursive: true });
  await rm(join(dir, unit), { force: true });
  await symlink(target, join(dir, unit));
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The kernel links the distribution maintains: /boot/vmlinuz (Ubuntu) or /vmlinuz (Debian). */
export function kernelPaths(root: string): KernelPaths {
  for (const dir of ['/boot', '']) {
    if (exists(join(root, dir, 'vmlinuz')) && exists(join(root, dir, 'initrd.img'))) {
      const old = exists(join(root, dir, 'vmlinuz.old')) && exists(join(root, dir, 'initrd.img.old'));
      return {
        kernel: `${dir}/vmlinuz`,
        initrd: `${dir}/initrd.img`,
        oldKernel: old ? `${dir}/vmlinuz.old` : undefined,
        oldInitrd: old ? `${dir}/initrd.img.old` : undefined,
      };
    }
  }
  const versions = readdirSync(join(root, 'boot'))
    .filter((name) => name.startsWith('vmlinuz-'))
    .map((name) => name.slice('vmlinuz-'.length))
    .filter((version) => exists(join(root, 'boot', `initrd.img-${version}`)))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const newest = versions.at(-1);
  if (!newest) throw new BuildError('bare_metal: the rootfs has no kernel with an initramfs in /boot (is the kernel package installed?)');
  return { kernel: `/boot/vmlinuz-${newest}`, initrd: `/boot/initrd.img-${newest}` };
}

async function osName(root: string): Promise<string> {
  for (const file of ['etc/os-release', 'usr/lib/os-release']) {
    if (!existsSync(join(root, file))) continue;
    const match = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(await readFile(join(root, file), 'utf8'));
    if (match) return match[1];
  }
  return 'Linux';
}
