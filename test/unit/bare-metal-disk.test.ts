import { BuildError, UsageError } from '../../lib/core/errors';
import { fstabText, grubConfig, kernelCmdline, parseSerialConsole, checkKernelCmdline } from '../../lib/builder/packers/disk/boot-config';
import { grubMbr, placedCoreImage } from '../../lib/builder/packers/disk/grub-bios';
import { diskIds, fatUuid } from '../../lib/builder/packers/disk/identifiers';
import { GIB, MIB, PARTITION_TYPES, planDisk, sfdiskScript } from '../../lib/builder/packers/disk/layout';
import { bareMetalPackages } from '../../lib/builder/packers/disk/packages';
import { DISK_ARCHITECTURES } from '../../lib/builder/packers/disk/architectures';
import { bareMetalPacker } from '../../lib/builder/packers/disk';
import { distribution } from '../../lib/core/distributions';
import { Recipe, RecipeSchema } from '../../lib/recipes/schema';
import { BuildRequest } from '../../lib/builder/request';

function recipe(fields: Record<string, unknown> = {}): Recipe {
  return { ...RecipeSchema.parse({ build_type: 'bare_metal', os_versions: ['bookworm'], ...fields }), name: 'wrangler', origin: 'test', baseDir: '.' };
}

const ids = diskIds('acme_wrangler_bookworm_hotdog_20261126.111500');
const usage = { bytes: 800 * MIB, inodes: 20000 };

describe('bare-metal disk layout', () => {
  test('is content plus headroom, far below disk_size, with root last', () => {
    const layout = planDisk(usage, 'uefi', 8, ids, 'wrangler');
    expect(layout.totalBytes).toBeGreaterThan(usage.bytes + 64 * MIB);
    expect(layout.totalBytes).toBeLessThan(1.5 * GIB);
    expect(layout.boot).toMatchObject({ number: 1, offset: MIB, size: 64 * MIB, type: PARTITION_TYPES.esp });
    expect(layout.root.offset).toBe(65 * MIB);
    expect(layout.root.offset + layout.root.size + MIB).toBe(layout.totalBytes);
    expect(layout.root.size % MIB).toBe(0);
  });

  test('BIOS has a 1 MiB BIOS boot partition first', () => {
    const layout = planDisk(usage, 'bios', 8, ids, 'wrangler');
    expect(layout.boot).toMatchObject({ offset: MIB, size: MIB, type: PARTITION_TYPES.biosBoot });
    expect(layout.root.offset).toBe(2 * MIB);
  });

  test('a disk_size below the content fails naming both sizes; one just above the content caps the headroom', () => {
    expect(() => planDisk(usage, 'uefi', 0.5, ids, 'wrangler')).toThrow(BuildError);
    expect(() => planDisk(usage, 'uefi', 0.5, ids, 'wrangler')).toThrow(
      /^disk_size 0.5 GB of recipe wrangler is too small: the image needs at least 0\.99 GB \(0\.78 GB of files/,
    );
    const tight = planDisk(usage, 'uefi', 1.1, ids, 'wrangler');
    expect(tight.totalBytes).toBeLessThanOrEqual(1.1 * GIB);
  });

  test('the sfdisk script names the types, UUIDs and sector offsets', () => {
    const layout = planDisk(usage, 'uefi', 8, ids, 'wrangler');
    const script = sfdiskScript(layout, ids.diskUuid);
    expect(script).toContain('label: gpt');
    expect(script).toContain(`label-id: ${ids.diskUuid}`);
    expect(script).toContain(`start=2048, size=131072, type=${PARTITION_TYPES.esp}, uuid=${ids.bootPartUuid}`);
    expect(script).toContain(`start=133120, size=${layout.root.size / 512}, type=${DISK_ARCHITECTURES.amd64.rootPartitionType}`);
  });
});

describe('bare-metal identifiers', () => {
  test('are UUIDs derived from the image name: stable for a name, different across names', () => {
    expect(ids.rootFsUuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(diskIds('acme_wrangler_bookworm_hotdog_20261126.111500')).toEqual(ids);
    expect(diskIds('acme_wrangler_bookworm_hotdog_20261126.111501').rootFsUuid).not.toBe(ids.rootFsUuid);
    expect(new Set([ids.diskUuid, ids.bootPartUuid, ids.rootPartUuid, ids.rootFsUuid]).size).toBe(4);
    expect(fatUuid(ids.espVolumeId)).toMatch(/^[0-9A-F]{4}-[0-9A-F]{4}$/);
  });
});

describe('bare-metal boot configuration', () => {
  test('kernel command line: root by UUID, screen and serial console, then the recipe', () => {
    expect(kernelCmdline(recipe({ boot: { kernel_cmdline: ['quiet'] } }), ids, 'amd64')).toBe(
      `root=UUID=${ids.rootFsUuid} ro console=tty0 console=ttyS0,115200 quiet`,
    );
    expect(kernelCmdline(recipe({ boot: { serial_console: 'none' } }), ids, 'amd64')).toBe(`root=UUID=${ids.rootFsUuid} ro console=tty0`);
  });

  test('serial consoles and kernel arguments are checked', () => {
    expect(parseSerialConsole('ttyS1,9600')).toMatchObject({ device: 'ttyS1', grubUnit: 1, speed: 9600 });
    expect(parseSerialConsole('ttyAMA0')).toMatchObject({ device: 'ttyAMA0', grubUnit: undefined });
    expect(() => parseSerialConsole('/dev/ttyS0')).toThrow(UsageError);
    expect(() => checkKernelCmdline(['a b'])).toThrow(/without spaces/);
    expect(() => checkKernelCmdline(['root=/dev/sda1'])).toThrow(/must not set root=/);
  });

  test('fstab mounts root and the ESP by UUID and keeps other entries', () => {
    const text = fstabText('# UNCONFIGURED FSTAB\n/dev/sda1 / ext4 defaults 0 1\ntmpfs /scratch tmpfs defaults 0 0\n', 'uefi', ids);
    expect(text).toContain(`UUID=${ids.rootFsUuid} / ext4 errors=remount-ro 0 1`);
    expect(text).toContain(`UUID=${fatUuid(ids.espVolumeId)} /boot/efi vfat umask=0077,nofail 0 2`);
    expect(text).toContain('tmpfs /scratch tmpfs defaults 0 0');
    expect(text).not.toContain('/dev/sda1');
    expect(fstabText('', 'bios', ids)).not.toContain('/boot/efi');
  });

  test('grub.cfg boots the kernel links with the command line and talks on the serial port', () => {
    const cfg = grubConfig(recipe(), ids, { kernel: '/vmlinuz', initrd: '/initrd.img', oldKernel: '/vmlinuz.old', oldInitrd: '/initrd.img.old' }, 'Debian GNU/Linux 12 (bookworm)', 'amd64');
    expect(cfg).toContain('serial --unit=0 --speed=115200');
    expect(cfg).toContain(`\tlinux /vmlinuz root=UUID=${ids.rootFsUuid} ro console=tty0 console=ttyS0,115200`);
    expect(cfg).toContain('\tinitrd /initrd.img.old');
    expect(cfg).toContain(`search --no-floppy --fs-uuid --set=root ${ids.rootFsUuid}`);
  });

  test('packages: the distribution kernel and the firmware GRUB', () => {
    expect(bareMetalPackages(recipe(), distribution('bookworm'), 'amd64')).toEqual(expect.arrayContaining(['linux-image-amd64', 'grub-efi-amd64-bin', 'fdisk']));
    expect(bareMetalPackages(recipe({ boot: { firmware: 'bios' } }), distribution('noble'), 'amd64')).toEqual(
      expect.arrayContaining(['linux-image-generic', 'grub-pc-bin']),
    );
    const cloud = bareMetalPackages(recipe({ boot: { kernel: 'linux-image-cloud-amd64' } }), distribution('bookworm'), 'amd64');
    expect(cloud).toContain('linux-image-cloud-amd64');
    expect(cloud).not.toContain('linux-image-amd64');
    expect(() => recipe({ boot: { kernel: 'linux image; rm -rf /' } })).toThrow();
  });

  test('verify rejects an absurd disk_size and bad boot settings before any work', () => {
    const request = (r: Recipe) => ({ name: 'wrangler', recipe: r, architecture: 'amd64' } as BuildRequest);
    expect(() => bareMetalPacker.verify(request(recipe({ disk_size: 0.01 })))).toThrow(/too small for any bootable disk/);
    expect(() => bareMetalPacker.verify(request(recipe({ boot: { kernel_cmdline: ['x;y z'] } })))).toThrow(UsageError);
    expect(() => bareMetalPacker.verify(request(recipe()))).not.toThrow();
  });
});

describe('legacy-BIOS GRUB placement', () => {
  test('the MBR gets boot.img code around the disk BPB and partition table, pointing at core.img', () => {
    const disk = Buffer.alloc(512, 0);
    disk.fill(0xaa, 0x1b8, 0x1fe);
    disk[0x1fe] = 0x55;
    disk[0x1ff] = 0xaa;
    const boot = Buffer.alloc(512, 0x11);
    const mbr = grubMbr(disk, boot, 2048);
    expect(mbr.subarray(0x1b8)).toEqual(disk.subarray(0x1b8));
    expect(mbr.subarray(0x03, 0x5a)).toEqual(Buffer.alloc(0x57, 0));
    expect(mbr[0]).toBe(0x11);
    expect(mbr.readBigUInt64LE(0x5c)).toBe(2048n);
    expect([mbr[0x66], mbr[0x67]]).toEqual([0x90, 0x90]);
  });

  test('core.img learns where its second sector is; one too big for the partition fails', () => {
    const core = Buffer.alloc(512 * 40, 0);
    core.writeBigUInt64LE(2n, 500);
    core.writeUInt16LE(39, 508);
    const placed = placedCoreImage(core, 2048, MIB);
    expect(placed.readBigUInt64LE(500)).toBe(2049n);
    expect(placed.readUInt16LE(508)).toBe(39);
    expect(() => placedCoreImage(core, 2048, 4096)).toThrow(/does not fit/);
  });
});
