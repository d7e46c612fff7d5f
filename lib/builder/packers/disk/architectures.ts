import { Architecture, ARCHITECTURES } from '../../../core/architecture';
import { UsageError } from '../../../core/errors';
import { quote } from '../../../core/message-text';

/**
 * What a disk differs in from one CPU architecture to the next, in one table: the kernel
 * packages, GRUB's EFI platform and package, the removable-media EFI path, the
 * Discoverable Partitions root type, the firmware it may boot by and the serial consoles
 * its kernel command line names.
 *
 * The console rule: the recipe's boot.serial_console is the machine's console on every
 * architecture. arm64 machines differ in their UART: QEMU's `-M virt` and most arm64
 * servers and boards have a PL011 (ttyAMA0), EC2's Graviton and some servers an 8250
 * (ttyS0). So an arm64 kernel command line names the recipe's console and ttyAMA<n> of the
 * same number and speed beside it; the kernel takes the ones that exist, and the getty
 * follows the kernel's consoles (systemd's getty generator starts one on each), so whichever
 * UART the machine has gets the boot messages and the login prompt.
 */
/** The firmware a disk boots by. */
export type Firmware = 'uefi' | 'bios';

export interface DiskArchitecture {
  /** The kernel a bare-metal disk gets unless the recipe names one (boot.kernel). */
  kernel: { debian: string; ubuntu: string };
  /** The kernel built for cloud machines (the ami build type). */
  cloudKernel: { debian: string; ubuntu: string };
  /** The package with GRUB's EFI modules and grub-mkimage's platform for them. */
  grubEfiPackage: string;
  grubEfiPlatform: string;
  /** The removable-media boot path in the ESP (what the firmware boots without a boot entry). */
  efiBootFile: string;
  /** The Discoverable Partitions Specification's root partition type for this architecture. */
  rootPartitionType: string;
  /** The firmware its machines boot by. */
  firmware: readonly Firmware[];
  /** The serial device names its machines may have beside ttyS<n> (PL011: ttyAMA<n>). */
  extraSerialPrefixes: readonly string[];
  /**
   * How the serial console gets its login prompt: `enabled`, a serial-getty for the recipe's
   * device enabled in the image; `kernel-console`, systemd's getty generator starting one on
   * each console the kernel took (the devices differ from machine to machine).
   */
  serialGetty: 'enabled' | 'kernel-console';
  /** Whether grub.cfg drives a serial port itself (x86's ns8250); otherwise the EFI console carries GRUB. */
  grubSerial: boolean;
}

export const DISK_ARCHITECTURES: Record<Architecture, DiskArchitecture> = {
  amd64: {
    kernel: { debian: 'linux-image-amd64', ubuntu: 'linux-image-generic' },
    cloudKernel: { debian: 'linux-image-cloud-amd64', ubuntu: 'linux-image-aws' },
    grubEfiPackage: 'grub-efi-amd64-bin',
    grubEfiPlatform: 'x86_64-efi',
    efiBootFile: 'BOOTX64.EFI',
    rootPartitionType: '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709',
    firmware: ['uefi', 'bios'],
    extraSerialPrefixes: [],
    serialGetty: 'enabled',
    grubSerial: true,
  },
  arm64: {
    kernel: { debian: 'linux-image-arm64', ubuntu: 'linux-image-generic' },
    cloudKernel: { debian: 'linux-image-cloud-arm64', ubuntu: 'linux-image-aws' },
    grubEfiPackage: 'grub-efi-arm64-bin',
    grubEfiPlatform: 'arm64-efi',
    efiBootFile: 'BOOTAA64.EFI',
    rootPartitionType: 'B921B045-1DF0-41C3-AF44-4C6F280D3FAE',
    firmware: ['uefi'],
    extraSerialPrefixes: ['ttyAMA'],
    serialGetty: 'kernel-console',
    grubSerial: false,
  },
};

export function diskArchitecture(architecture: Architecture): DiskArchitecture {
  return DISK_ARCHITECTURES[architecture];
}

/** Every architecture's root partition type (what a reader of any of these disks looks for). */
export const ROOT_PARTITION_TYPES: readonly string[] = ARCHITECTURES.map((arch) => DISK_ARCHITECTURES[arch].rootPartitionType);

/** Refuses firmware the architecture's machines do not boot by (BIOS on arm64). */
export function checkDiskFirmware(recipeName: string, firmware: Firmware, architecture: Architecture): void {
  if (!DISK_ARCHITECTURES[architecture].firmware.includes(firmware)) {
    throw new UsageError(`recipe ${recipeName}: ${architecture} disks boot by ${DISK_ARCHITECTURES[architecture].firmware.join(' or ')} only (boot.firmware is ${firmware})`);
  }
}

/**
 * Refuses a boot.kernel named for another architecture (linux-image-cloud-amd64 in an arm64
 * build): such a package does not exist in the arm64 archive, or would not boot. A name
 * without an architecture (linux-image-generic, linux-image-aws) is built for each.
 */
export function checkKernelPackage(recipeName: string, kernel: string | undefined, architecture: Architecture): void {
  if (kernel === undefined) return;
  const other = ARCHITECTURES.find((arch) => arch !== architecture && new RegExp(`(^|-)${arch}(-|$)`).test(kernel));
  if (other !== undefined) {
    throw new UsageError(`recipe ${recipeName}: boot.kernel ${quote(kernel)} is an ${other} kernel; an ${architecture} build needs one for ${architecture} (or no boot.kernel)`);
  }
}

/** The serial devices a kernel command line names for the recipe's console ("ttyS0" -> ttyS0, and ttyAMA0 on arm64). */
export function serialConsoleDevices(device: string, architecture: Architecture): string[] {
  const number = /^ttyS([0-9]+)$/.exec(device)?.[1];
  if (number === undefined) return [device];
  return [device, ...DISK_ARCHITECTURES[architecture].extraSerialPrefixes.map((prefix) => `${prefix}${number}`)];
}
