import { createHash } from 'node:crypto';

/**
 * The disk's identifiers (filesystem UUIDs, partition UUIDs, the FAT volume id), derived
 * from the image name. prepareRootfs() writes them into fstab and grub.cfg and pack() gives
 * them to mkfs and sfdisk, so both agree without passing state; the same image name always
 * gives the same disk. Every copy of an image shares them, as with any written disk image.
 */
export interface DiskIds {
  diskUuid: string;
  bootPartUuid: string;
  rootPartUuid: string;
  /** ext4 UUID of the root filesystem (root=UUID=... and fstab). */
  rootFsUuid: string;
  /** FAT volume id of the ESP, 8 hex digits (fstab writes it as XXXX-XXXX). */
  espVolumeId: string;
}

export function diskIds(imageName: string): DiskIds {
  return {
    diskUuid: uuidFrom(imageName, 'disk'),
    bootPartUuid: uuidFrom(imageName, 'boot-partition'),
    rootPartUuid: uuidFrom(imageName, 'root-partition'),
    rootFsUuid: uuidFrom(imageName, 'root-filesystem'),
    espVolumeId: digest(imageName, 'esp-volume').slice(0, 8).toUpperCase(),
  };
}

/** "ABCD1234" -> "ABCD-1234", the form blkid and fstab use for FAT. */
export function fatUuid(volumeId: string): string {
  return `${volumeId.slice(0, 4)}-${volumeId.slice(4, 8)}`;
}

function digest(seed: string, purpose: string): string {
  return createHash('sha256').update(`tailor-image:${purpose}:${seed}`).digest('hex');
}

/** A name-based UUID (RFC 4122 layout, version 5 bits over a SHA-256 digest). */
function uuidFrom(seed: string, purpose: string): string {
  const hex = digest(seed, purpose).slice(0, 32).split('');
  hex[12] = '5';
  hex[16] = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  const h = hex.join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
