import { Architecture } from '../../../core/architecture';
import { UsageError } from '../../../core/errors';
import { Recipe } from '../../../recipes/schema';
import { DiskIds, fatUuid } from './identifiers';
import { Firmware } from './layout';
import { diskArchitecture, serialConsoleDevices } from './architectures';

/**
 * The text of the boot configuration written into the rootfs: fstab, grub.cfg, the kernel
 * command line, the first-boot unit that grows the root filesystem. Pure functions of the
 * recipe and the disk's identifiers.
 */

/** GRUB finds its modules and grub.cfg here: partition 2 (root) of the disk it booted from. */
export const GRUB_PREFIX = '(,gpt2)/boot/grub';

export const GROW_ROOT_SCRIPT_PATH = '/usr/lib/tailor-image/grow-root';
export const GROW_ROOT_UNIT = 'tailor-grow-root.service';
export const GROW_ROOT_STAMP = '/var/lib/tailor-image/root-grown';

export interface SerialConsole {
  /** ttyS0 */
  device: string;
  /** console=ttyS0,115200 */
  kernelArg: string;
  /** GRUB's serial unit for ttyS<n>; undefined for other devices. */
  grubUnit?: number;
  speed: number;
}

/** "ttyS0,115200" -> the device, the kernel argument and GRUB's settings; "" or "none" -> none. */
export function parseSerialConsole(value: string): SerialConsole | undefined {
  if (value === '' || value === 'none') return undefined;
  const match = /^(tty[A-Za-z]+[0-9]+)(?:,([0-9]+)(n8|n8r|e7|o7)?)?$/.exec(value);
  if (!match) throw new UsageError(`boot.serial_console "${value}" is not a console such as ttyS0,115200 (or "none")`);
  const [, device, speed] = match;
  const unit = /^ttyS([0-9]+)$/.exec(device);
  return {
    device,
    kernelArg: `console=${value}`,
    grubUnit: unit ? Number(unit[1]) : undefined,
    speed: speed ? Number(speed) : 115200,
  };
}

/** Kernel arguments a recipe may not set itself (the builder owns them). */
const OWNED_ARGS = /^(root|rootfstype)=/;

export function checkKernelCmdline(args: readonly string[]): void {
  for (const arg of args) {
    if (!/^[A-Za-z0-9_.,:/=+@%-]+$/.test(arg)) {
      throw new UsageError(`boot.kernel_cmdline entry "${arg}" must be one argument without spaces or quotes`);
    }
    if (OWNED_ARGS.test(arg)) throw new UsageError(`boot.kernel_cmdline must not set ${arg.split('=')[0]}= (the builder sets it)`);
  }
}

/**
 * root by filesystem UUID, the screen and the serial console (serial last: it gets
 * /dev/console); on arm64 the PL011 of the same number too (see DiskArchitecture).
 */
export function kernelCmdline(recipe: Recipe, ids: DiskIds, architecture: Architecture): string {
  return [
    `root=UUID=${ids.rootFsUuid}`,
    'ro',
    'console=tty0',
    ...serialConsoleArgs(recipe, architecture),
    ...recipe.boot.kernel_cmdline,
  ].join(' ');
}

/** The console= arguments for the recipe's serial console on an architecture. */
export function serialConsoleArgs(recipe: Recipe, architecture: Architecture): string[] {
  const serial = parseSerialConsole(recipe.boot.serial_console);
  if (!serial) return [];
  const options = serial.kernelArg.slice(`console=${serial.device}`.length);
  return serialConsoleDevices(serial.device, architecture).map((device) => `console=${device}${options}`);
}

/** Our lines first; lines of the old fstab for other mount points stay. */
export function fstabText(previous: string, firmware: Firmware, ids: DiskIds): string {
  const ours = [
    '# <file system> <mount point> <type> <options> <dump> <pass>  (root and ESP written by tailor-image)',
    `UUID=${ids.rootFsUuid} / ext4 errors=remount-ro 0 1`,
  ];
  if (firmware === 'uefi') ours.push(`UUID=${fatUuid(ids.espVolumeId)} /boot/efi vfat umask=0077,nofail 0 2`);
  const kept = previous
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.trim().startsWith('#'))
    .filter((line) => {
      const mountPoint = line.trim().split(/\s+/)[1];
      return mountPoint !== '/' && mountPoint !== '/boot/efi';
    });
  return `${[...ours, ...kept].join('\n')}\n`;
}

/** Kernel and initrd paths GRUB reads from the root filesystem. */
export interface KernelPaths {
  kernel: string;
  initrd: string;
  /** The previous kernel, when the distribution keeps .old links. */
  oldKernel?: string;
  oldInitrd?: string;
}

/**
 * grub.cfg. It names the kernel through the links the distribution keeps pointing at the
 * newest kernel (/vmlinuz on Debian, /boot/vmlinuz on Ubuntu), so a kernel update needs
 * no update-grub.
 */
export function grubConfig(recipe: Recipe, ids: DiskIds, paths: KernelPaths, title: string, architecture: Architecture): string {
  const serial = parseSerialConsole(recipe.boot.serial_console);
  const cmdline = kernelCmdline(recipe, ids, architecture);
  const lines = ['# Written by tailor-image. The kernel links follow kernel updates: no update-grub needed.', 'set default=0', 'set timeout=1'];
  if (serial?.grubUnit !== undefined && diskArchitecture(architecture).grubSerial) {
    lines.push(
      `serial --unit=${serial.grubUnit} --speed=${serial.speed}`,
      'terminal_input console serial',
      'terminal_output console serial',
    );
  }
  const entry = (name: string, kernel: string, initrd: string) => [
    `menuentry '${name.replace(/'/g, '')}' {`,
    `\tsearch --no-floppy --fs-uuid --set=root ${ids.rootFsUuid}`,
    `\tlinux ${kernel} ${cmdline}`,
    `\tinitrd ${initrd}`,
    '}',
  ];
  lines.push(...entry(title, paths.kernel, paths.initrd));
  if (paths.oldKernel && paths.oldInitrd) lines.push(...entry(`${title} (previous kernel)`, paths.oldKernel, paths.oldInitrd));
  return `${lines.join('\n')}\n`;
}

/**
 * Grows the root partition to the end of its disk (moving the backup GPT there first) and
 * then the ext4 filesystem, online. Runs once, at first boot.
 */
export const GROW_ROOT_SCRIPT = `#!/bin/sh
# Grows the root partition and filesystem to fill the disk (tailor-image, first boot).
set -eu
root_dev=$(readlink -f "$(findmnt -n -o SOURCE --target /)")
name=$(basename "$root_dev")
part=$(cat "/sys/class/block/$name/partition")
disk=/dev/$(basename "$(readlink -f "/sys/class/block/$name/..")")
echo "growing partition $part of $disk and the filesystem on $root_dev"
sfdisk --no-reread --no-tell-kernel --force --relocate gpt-bak-std "$disk"
echo ', +' | sfdisk --no-reread --no-tell-kernel --force -N "$part" "$disk"
partx --update --nr "$part" "$disk"
resize2fs "$root_dev"
mkdir -p "$(dirname ${GROW_ROOT_STAMP})"
touch ${GROW_ROOT_STAMP}
`;

export const GROW_ROOT_UNIT_TEXT = `[Unit]
Description=Grow the root partition and filesystem to fill the disk (tailor-image first boot)
DefaultDependencies=no
After=systemd-remount-fs.service
Before=local-fs.target shutdown.target
Conflicts=shutdown.target
ConditionPathExists=!${GROW_ROOT_STAMP}

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${GROW_ROOT_SCRIPT_PATH}

[Install]
WantedBy=local-fs.target
`;
