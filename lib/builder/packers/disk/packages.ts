import { Architecture } from '../../../core/architecture';
import { Recipe } from '../../../recipes/schema';
import { Distribution } from '../../../core/distributions';
import { diskArchitecture } from './architectures';

/**
 * What a bootable rootfs needs beside the recipe's packages: the distribution's kernel for the
 * architecture (or the recipe's boot.kernel), an initramfs, GRUB's images for the firmware
 * (grub-mkimage runs in the rootfs; no grub-install, no update-grub), and sfdisk for growing
 * the root partition at first boot. The same names exist on bookworm, jammy and noble.
 */
export function bareMetalPackages(recipe: Recipe, distribution: Distribution, architecture: Architecture): string[] {
  const kernel = recipe.boot.kernel ?? diskArchitecture(architecture).kernel[distribution.os === 'ubuntu' ? 'ubuntu' : 'debian'];
  return [kernel, ...diskBootPackages(recipe, architecture)];
}

/** Everything but the kernel: the initramfs tools, GRUB's images, sfdisk and e2fsprogs (root growing). */
export function diskBootPackages(recipe: Recipe, architecture: Architecture): string[] {
  const grub = recipe.boot.firmware === 'bios' ? 'grub-pc-bin' : diskArchitecture(architecture).grubEfiPackage;
  return ['initramfs-tools', grub, 'fdisk', 'e2fsprogs'];
}
