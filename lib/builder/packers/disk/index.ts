import { UsageError } from '../../../core/errors';
import { HostTool } from '../../../core/host-tools';
import { Packer } from '../packer';
import { packBareMetal } from './assemble';
import { checkKernelCmdline, parseSerialConsole } from './boot-config';
import { bareMetalPackages } from './packages';
import { checkDiskFirmware, checkKernelPackage } from './architectures';
import { prepareBareMetalRootfs } from './prepare';

/** Below this no kernel, initramfs and userland fit; the content check in pack() is the real one. */
export const MIN_DISK_SIZE_GB = 0.25;

const HOST_TOOLS: HostTool[] = [
  { command: 'du', package: 'coreutils' },
  { command: 'sfdisk', package: 'fdisk' },
  { command: 'mkfs.ext4', package: 'e2fsprogs' },
  { command: 'dumpe2fs', package: 'e2fsprogs' },
  { command: 'debugfs', package: 'e2fsprogs' },
  { command: 'xz', package: 'xz-utils' },
];
const UEFI_TOOLS: HostTool[] = [
  { command: 'mkfs.vfat', package: 'dosfstools' },
  { command: 'mmd', package: 'mtools' },
  { command: 'mcopy', package: 'mtools' },
];

/**
 * bare_metal: the rootfs as a bootable GPT disk (<image>.raw.xz). UEFI (GRUB on an ESP) or
 * legacy BIOS (GRUB in a BIOS boot partition); root on ext4, grown to the disk at first boot.
 */
export const bareMetalPacker: Packer = {
  buildType: 'bare_metal',
  extension: 'raw.xz',
  indexKey: 'raw',

  hostTools(recipe) {
    return recipe.boot.firmware === 'uefi' ? [...HOST_TOOLS, ...UEFI_TOOLS] : HOST_TOOLS;
  },

  rootfsPackages(recipe, distribution, architecture) {
    return bareMetalPackages(recipe, distribution, architecture);
  },

  verify(request) {
    const { recipe } = request;
    if (!Number.isFinite(recipe.disk_size) || recipe.disk_size < MIN_DISK_SIZE_GB) {
      throw new UsageError(
        `disk_size ${recipe.disk_size} GB of recipe ${request.name} is too small for any bootable disk (at least ${MIN_DISK_SIZE_GB} GB)`,
      );
    }
    checkDiskFirmware(request.name, recipe.boot.firmware, request.architecture);
    checkKernelPackage(request.name, recipe.boot.kernel, request.architecture);
    parseSerialConsole(recipe.boot.serial_console);
    checkKernelCmdline(recipe.boot.kernel_cmdline);
  },

  prepareRootfs: prepareBareMetalRootfs,
  pack: packBareMetal,
};
