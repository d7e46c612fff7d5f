import { BuildError } from '../../../core/errors';
import { SECTOR } from './layout';

/**
 * Legacy-BIOS GRUB without grub-install: what grub-bios-setup does to a disk, done on a
 * file. boot.img goes into the MBR's code area (the partition table stays) and is told where
 * core.img starts; core.img goes into the BIOS boot partition and its first sector (diskboot)
 * is told where the rest of it is.
 */

/** boot.S: the 64-bit sector number of core.img's first sector. */
const KERNEL_SECTOR_OFFSET = 0x5c;
/** boot.S: a jump that trusts the BIOS's drive number; grub-setup nops it for hard disks. */
const DRIVE_CHECK_OFFSET = 0x66;
/** boot.S: the DOS BPB, kept from the disk as grub-setup does. */
const BPB_START = 0x03;
const BPB_END = 0x5a;
/** Where the partition table area starts (disk signature, then the protective MBR). */
const PARTITION_AREA = 0x1b8;
/** diskboot.S: the first blocklist entry (start: u64, len: u16, segment: u16), at the end of sector 0. */
const BLOCKLIST_START = SECTOR - 12;

/** The MBR after GRUB: boot.img's code around the disk's own BPB and partition table. */
export function grubMbr(existingMbr: Buffer, bootImg: Buffer, coreSector: number): Buffer {
  if (bootImg.length !== SECTOR) throw new BuildError(`GRUB boot.img is ${bootImg.length} bytes, expected ${SECTOR}`);
  if (existingMbr.length !== SECTOR) throw new BuildError('the disk has no whole MBR sector');
  const mbr = Buffer.from(existingMbr);
  bootImg.copy(mbr, 0, 0, BPB_START);
  bootImg.copy(mbr, BPB_END, BPB_END, PARTITION_AREA);
  mbr.writeBigUInt64LE(BigInt(coreSector), KERNEL_SECTOR_OFFSET);
  mbr[DRIVE_CHECK_OFFSET] = 0x90;
  mbr[DRIVE_CHECK_OFFSET + 1] = 0x90;
  return mbr;
}

/** core.img with its first blocklist pointing at the sectors after its first one. */
export function placedCoreImage(coreImg: Buffer, coreSector: number, room: number): Buffer {
  if (coreImg.length > room) {
    throw new BuildError(`GRUB core.img (${coreImg.length} bytes) does not fit the ${room}-byte BIOS boot partition`);
  }
  const core = Buffer.from(coreImg);
  const sectors = Math.ceil(core.length / SECTOR);
  const length = core.readUInt16LE(BLOCKLIST_START + 8);
  if (length !== sectors - 1) {
    throw new BuildError(`GRUB core.img's blocklist says ${length} sectors, the file has ${sectors - 1} after the first`);
  }
  core.writeBigUInt64LE(BigInt(coreSector + 1), BLOCKLIST_START);
  return core;
}
