import { Recipe } from '../../../recipes/schema';
import { Distribution } from '../../../core/distributions';

/**
 * What a bootable rootfs needs beside the recipe's packages: the distribution's kernel (or the
 * recipe's boot.kernel), an initramfs, GRUB's images for the firmware (grub-mkimage runs in the rootfs; no grub-install,
 * no update-grub), and sfdisk for growing the root partition at first boot. The same names
 * exist on bookworm, jammy and noble.
 */
export function bareMetalPackages(recipe: Recipe, distribution: Distribution): string[] {
  const kernel = recipe.boot.kernel ?? (distribution.os === 'ubuntu' ? 'linux-image-generic' : 'linux-image-amd64');
  return [kernel, ...diskBootPackages(recipe)];
}

/** Everything but the kernel: the initramfs tools, GRUB's images, sfdisk and e2fsprogs (root growing). */
export function diskBootPackages(recipe: Recipe): string[] {
  const grub = recipe.boot.firmware === 'bios' ? 'grub-pc-bin' : 'grub-efi-amd64-bin';
  return ['initramfs-tools', grub, 'fdisk', 'e2fsprogs'];
}
