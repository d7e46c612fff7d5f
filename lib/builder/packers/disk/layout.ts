import { Architecture } from '../../../core/architecture';
import { BuildError } from '../../../core/errors';
import { Firmware, diskArchitecture } from './architectures';

/**
 * Where everything goes on a bare-metal disk, worked out from the rootfs's size before a
 * byte is written. Pure arithmetic: no I/O, so it is unit-tested on its own.
 *
 * UEFI:  [GPT][ESP (FAT32)][root (ext4)][backup GPT]
 * BIOS:  [MBR boot.img + GPT][BIOS boot (GRUB core.img)][root (ext4)][backup GPT]
 *
 * The root filesystem is always partition 2 and always last, so the first boot can grow it
 * to the end of whatever disk the image was written to.
 */

export const MIB = 1024 * 1024;
export const GIB = 1024 * MIB;
export const SECTOR = 512;

/** The EFI system partition: GRUB's EFI image only, but room for a firmware update or two. */
export const ESP_BYTES = 64 * MIB;
/** The BIOS boot partition that holds GRUB's core.img (grub-install's own size). */
export const BIOS_BOOT_BYTES = 1 * MIB;
/** Space before the first partition (GPT) and after the last one (backup GPT), 1 MiB aligned. */
const LEAD_BYTES = 1 * MIB;
const TAIL_BYTES = 1 * MIB;
/** ext4's journal for a 2..16 GiB filesystem (what mke2fs picks), budgeted whatever the size. */
const JOURNAL_BYTES = 64 * MIB;
const INODE_BYTES = 256;

export const PARTITION_TYPES = {
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  biosBoot: '21686148-6449-6E6F-744E-656564454649',
} as const;

export type { Firmware } from './architectures';

/** What the rootfs holds, as `du` counts it. */
export interface RootfsUsage {
  bytes: number;
  inodes: number;
}

export interface Partition {
  /** 1-based, as in /dev/vda2. */
  number: number;
  name: string;
  type: string;
  uuid: string;
  offset: number;
  size: number;
}

export interface DiskLayout {
  firmware: Firmware;
  totalBytes: number;
  /** Partition 1: the ESP (uefi) or the BIOS boot partition (bios). */
  boot: Partition;
  root: Partition;
  /** Inodes to give the root filesystem. */
  rootInodes: number;
}

export interface LayoutIds {
  diskUuid: string;
  bootPartUuid: string;
  rootPartUuid: string;
}

/** The smallest root filesystem that holds the content: blocks, inode tables, journal, slack. */
export function minimumRootBytes(usage: RootfsUsage): number {
  const inodes = rootInodes(usage);
  return alignUp(Math.ceil(usage.bytes * 1.05) + inodes * INODE_BYTES + JOURNAL_BYTES + 32 * MIB, MIB);
}

/** The root filesystem with headroom: a tenth of the content, at least 256 MiB. */
export function desiredRootBytes(usage: RootfsUsage): number {
  const headroom = Math.max(256 * MIB, Math.ceil(usage.bytes * 0.1));
  return alignUp(minimumRootBytes(usage) + headroom, MIB);
}

export function rootInodes(usage: RootfsUsage): number {
  return Math.ceil(usage.inodes * 1.5) + 16384;
}

function bootBytes(firmware: Firmware): number {
  return firmware === 'uefi' ? ESP_BYTES : BIOS_BOOT_BYTES;
}

/** What the disk costs beside the root filesystem. */
export function overheadBytes(firmware: Firmware): number {
  return LEAD_BYTES + bootBytes(firmware) + TAIL_BYTES;
}

/** disk_size is in GB as tailor counted them: GiB (qemu-img's "G"). */
export function diskSizeLimitBytes(diskSizeGb: number): number {
  return Math.floor((diskSizeGb * GIB) / MIB) * MIB;
}

export function formatGb(bytes: number): string {
  return `${(bytes / GIB).toFixed(2)} GB`;
}

/**
 * The disk: content plus headroom, capped at disk_size. Fails, naming both sizes, when
 * disk_size cannot hold even the content.
 */
export function planDisk(
  usage: RootfsUsage,
  firmware: Firmware,
  diskSizeGb: number,
  ids: LayoutIds,
  recipeName: string,
  architecture: Architecture = 'amd64',
): DiskLayout {
  const overhead = overheadBytes(firmware);
  const limit = diskSizeLimitBytes(diskSizeGb);
  const minimum = minimumRootBytes(usage) + overhead;
  if (minimum > limit) {
    throw new BuildError(
      `disk_size ${diskSizeGb} GB of recipe ${recipeName} is too small: the image needs at least ${formatGb(minimum)} ` +
        `(${formatGb(usage.bytes)} of files plus boot partition and filesystem overhead); raise disk_size`,
    );
  }
  const rootSize = Math.min(desiredRootBytes(usage), limit - overhead);
  const bootSize = bootBytes(firmware);
  const boot: Partition = {
    number: 1,
    name: firmware === 'uefi' ? 'ESP' : 'BIOS boot',
    type: firmware === 'uefi' ? PARTITION_TYPES.esp : PARTITION_TYPES.biosBoot,
    uuid: ids.bootPartUuid,
    offset: LEAD_BYTES,
    size: bootSize,
  };
  const root: Partition = {
    number: 2,
    name: 'root',
    type: diskArchitecture(architecture).rootPartitionType,
    uuid: ids.rootPartUuid,
    offset: LEAD_BYTES + bootSize,
    size: rootSize,
  };
  return {
    firmware,
    totalBytes: root.offset + root.size + TAIL_BYTES,
    boot,
    root,
    rootInodes: Math.max(rootInodes(usage), Math.floor(rootSize / 16384)),
  };
}

/** The sfdisk script that writes the GPT for a layout. */
export function sfdiskScript(layout: DiskLayout, diskUuid: string): string {
  const line = (p: Partition) =>
    `start=${p.offset / SECTOR}, size=${p.size / SECTOR}, type=${p.type}, uuid=${p.uuid}, name="${p.name}"`;
  return [
    'label: gpt',
    `label-id: ${diskUuid}`,
    'unit: sectors',
    `first-lba: ${LEAD_BYTES / SECTOR}`,
    '',
    line(layout.boot),
    line(layout.root),
    '',
  ].join('\n');
}

export function alignUp(value: number, to: number): number {
  return Math.ceil(value / to) * to;
}
