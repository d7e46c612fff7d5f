import { Recipe } from '../../../recipes/schema';
import { Distribution } from '../../../core/distributions';
import { diskBootPackages } from '../disk/packages';
import { diskArchitecture } from '../disk/architectures';
import { Architecture } from '../../../core/architecture';

/**
 * What an EC2-ready rootfs needs beside the recipe's packages, after what Debian's official
 * cloud images (FAI class EC2: cloud-init, amazon-ec2-utils, the cloud kernel) and Canonical's
 * AMIs (the linux-aws kernel, cloud-init, chrony) install:
 *
 * - the kernel built for cloud machines (Debian's cloud kernel, Ubuntu's AWS kernel): virtio,
 *   NVMe and ENA drivers without the hardware zoo;
 * - the bare-metal disk's boot packages (initramfs-tools, GRUB's EFI images, sfdisk, e2fsprogs);
 * - cloud-init, which takes the launch key pair, the host name and the user data from IMDSv2;
 * - chrony (time from the Amazon Time Sync Service) and the ssh server;
 * - on Debian, amazon-ec2-utils (the udev rules naming EBS volumes /dev/sdX as in the console).
 *
 * cloud-guest-utils (growpart) is left out: the root partition is grown by the bare-metal
 * disk's first-boot unit, as on every disk this builder makes.
 */
export function amiPackages(recipe: Recipe, distribution: Distribution, architecture: Architecture): string[] {
  const ubuntu = distribution.os === 'ubuntu';
  return [
    diskArchitecture(architecture).cloudKernel[ubuntu ? 'ubuntu' : 'debian'],
    ...diskBootPackages(recipe, architecture),
    'cloud-init',
    'chrony',
    'openssh-server',
    ...(ubuntu ? [] : ['amazon-ec2-utils']),
  ];
}
