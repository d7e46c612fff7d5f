import { UsageError } from '../../lib/core/errors';
import { Architecture } from '../../lib/core/architecture';
import { DISK_ARCHITECTURES, ROOT_PARTITION_TYPES, serialConsoleDevices } from '../../lib/builder/packers/disk/architectures';
import { grubConfig, kernelCmdline } from '../../lib/builder/packers/disk/boot-config';
import { diskIds } from '../../lib/builder/packers/disk/identifiers';
import { MIB, planDisk, sfdiskScript } from '../../lib/builder/packers/disk/layout';
import { bareMetalPackages } from '../../lib/builder/packers/disk/packages';
import { grubPlatform } from '../../lib/builder/packers/disk/prepare';
import { bareMetalPacker } from '../../lib/builder/packers/disk';
import { amiPacker } from '../../lib/builder/packers/ami';
import { amiPackages } from '../../lib/builder/packers/ami/packages';
import { amiArchitecture } from '../../lib/storage/ec2/ami-publish';
import { ROOT_TYPES } from '../../lib/builder/image-tests/disk-copy';
import { QEMU_MACHINES, channelUnitText, qemuArgs, qemuRuntime } from '../../lib/builder/image-tests/qemu';
import { distribution } from '../../lib/core/distributions';
import { Recipe, RecipeSchema } from '../../lib/recipes/schema';
import { BuildRequest } from '../../lib/builder/request';

function recipe(fields: Record<string, unknown> = {}, buildType = 'bare_metal'): Recipe {
  return { ...RecipeSchema.parse({ build_type: buildType, os_versions: ['bookworm'], boot: { serial_console: 'ttyS0,115200' }, ...fields }), name: 'wrangler', origin: 'test', baseDir: '.' };
}

function request(r: Recipe, architecture: Architecture): BuildRequest {
  return { name: 'wrangler', recipe: r, architecture, imageName: 'acme_wrangler-arm64_bookworm_hotdog_20261202.040000', distribution: distribution('bookworm') } as BuildRequest;
}

const ids = diskIds('acme_wrangler-arm64_bookworm_hotdog_20261202.040000');

describe('arm64 disks: the per-architecture facts', () => {
  test('packages: the arm64 kernel and GRUB for arm64-efi (Debian), the generic kernel on Ubuntu; amd64 unchanged', () => {
    expect(bareMetalPackages(recipe(), distribution('bookworm'), 'arm64')).toEqual(['linux-image-arm64', 'initramfs-tools', 'grub-efi-arm64-bin', 'fdisk', 'e2fsprogs']);
    expect(bareMetalPackages(recipe(), distribution('noble'), 'arm64')[0]).toBe('linux-image-generic');
    expect(bareMetalPackages(recipe(), distribution('bookworm'), 'amd64')).toEqual(['linux-image-amd64', 'initramfs-tools', 'grub-efi-amd64-bin', 'fdisk', 'e2fsprogs']);
    expect(bareMetalPacker.rootfsPackages(recipe(), distribution('bookworm'), 'arm64')).toContain('grub-efi-arm64-bin');
  });

  test("ami packages: Debian's linux-image-cloud-arm64; Ubuntu's linux-image-aws on both", () => {
    const ami = recipe({}, 'ami');
    expect(amiPackages(ami, distribution('bookworm'), 'arm64').slice(0, 3)).toEqual(['linux-image-cloud-arm64', 'initramfs-tools', 'grub-efi-arm64-bin']);
    expect(amiPackages(ami, distribution('noble'), 'arm64')[0]).toBe('linux-image-aws');
    expect(amiPacker.rootfsPackages(ami, distribution('bookworm'), 'amd64')[0]).toBe('linux-image-cloud-amd64');
  });

  test('GRUB platform and EFI boot path: arm64-efi, EFI/BOOT/BOOTAA64.EFI; x86_64-efi, BOOTX64.EFI', () => {
    expect(grubPlatform('uefi', 'arm64')).toEqual({ platform: 'arm64-efi', image: 'core.efi', modules: ['part_gpt', 'ext2'] });
    expect(grubPlatform('uefi', 'amd64').platform).toBe('x86_64-efi');
    expect(grubPlatform('bios', 'amd64').platform).toBe('i386-pc');
    expect(DISK_ARCHITECTURES.arm64.efiBootFile).toBe('BOOTAA64.EFI');
    expect(DISK_ARCHITECTURES.amd64.efiBootFile).toBe('BOOTX64.EFI');
  });

  test('the root partition gets the Discoverable Partitions "root (arm64)" type; the gate finds both', () => {
    const layout = planDisk({ bytes: 800 * MIB, inodes: 20000 }, 'uefi', 8, ids, 'wrangler', 'arm64');
    expect(layout.root.type).toBe('B921B045-1DF0-41C3-AF44-4C6F280D3FAE');
    expect(sfdiskScript(layout, ids.diskUuid)).toContain('type=B921B045-1DF0-41C3-AF44-4C6F280D3FAE');
    expect(planDisk({ bytes: 800 * MIB, inodes: 20000 }, 'uefi', 8, ids, 'wrangler', 'amd64').root.type).toBe('4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709');
    expect(ROOT_TYPES).toEqual(expect.arrayContaining([...ROOT_PARTITION_TYPES]));
    expect(ROOT_PARTITION_TYPES).toHaveLength(2);
  });

  test('console rule: an arm64 command line names the recipe console and the PL011 of its number; GRUB leaves serial to the EFI console', () => {
    expect(serialConsoleDevices('ttyS0', 'arm64')).toEqual(['ttyS0', 'ttyAMA0']);
    expect(serialConsoleDevices('ttyS1', 'arm64')).toEqual(['ttyS1', 'ttyAMA1']);
    expect(serialConsoleDevices('ttyAMA0', 'arm64')).toEqual(['ttyAMA0']);
    expect(serialConsoleDevices('ttyS0', 'amd64')).toEqual(['ttyS0']);
    expect(kernelCmdline(recipe({ boot: { serial_console: 'ttyS0,115200n8', kernel_cmdline: ['quiet'] } }), ids, 'arm64')).toBe(
      `root=UUID=${ids.rootFsUuid} ro console=tty0 console=ttyS0,115200n8 console=ttyAMA0,115200n8 quiet`,
    );
    expect(kernelCmdline(recipe({ boot: { serial_console: 'none' } }), ids, 'arm64')).toBe(`root=UUID=${ids.rootFsUuid} ro console=tty0`);
    const paths = { kernel: '/vmlinuz', initrd: '/initrd.img' };
    expect(grubConfig(recipe(), ids, paths, 'Debian', 'arm64')).not.toContain('serial --unit');
    expect(grubConfig(recipe(), ids, paths, 'Debian', 'amd64')).toContain('serial --unit=0 --speed=115200');
    // The getty follows the kernel's consoles on arm64 (systemd's generator); amd64 enables its own.
    expect(DISK_ARCHITECTURES.arm64.serialGetty).toBe('kernel-console');
    expect(DISK_ARCHITECTURES.amd64.serialGetty).toBe('enabled');
  });

  test('verify refuses BIOS firmware and a kernel named for another architecture, in one line each', async () => {
    expect(() => bareMetalPacker.verify(request(recipe({ boot: { firmware: 'bios' } }), 'arm64'))).toThrow(
      new UsageError('recipe wrangler: arm64 disks boot by uefi only (boot.firmware is bios)'),
    );
    expect(() => bareMetalPacker.verify(request(recipe({ boot: { kernel: 'linux-image-cloud-amd64' } }), 'arm64'))).toThrow(
      new UsageError('recipe wrangler: boot.kernel "linux-image-cloud-amd64" is an amd64 kernel; an arm64 build needs one for arm64 (or no boot.kernel)'),
    );
    expect(() => bareMetalPacker.verify(request(recipe({ boot: { kernel: 'linux-image-arm64' } }), 'amd64'))).toThrow(/is an arm64 kernel/);
    expect(() => bareMetalPacker.verify(request(recipe({ boot: { kernel: 'linux-image-generic' } }), 'arm64'))).not.toThrow();
    expect(() => bareMetalPacker.verify(request(recipe({ boot: { kernel: 'linux-image-cloud-arm64' } }), 'arm64'))).not.toThrow();
    expect(() => bareMetalPacker.verify(request(recipe({ boot: { firmware: 'bios' } }), 'amd64'))).not.toThrow();
    await expect(amiPacker.verify(request(recipe({ boot: { kernel: 'linux-image-cloud-amd64', serial_console: 'ttyS0,115200' } }, 'ami'), 'arm64'))).rejects.toThrow(/amd64 kernel/);
  });

  test('the AMI is registered as arm64 for an arm64 image, x86_64 otherwise', () => {
    expect(amiArchitecture({ architecture: 'arm64' })).toBe('arm64');
    expect(amiArchitecture({ architecture: 'amd64' })).toBe('x86_64');
    expect(amiArchitecture({})).toBe('x86_64');
  });
});

describe("the test gate's QEMU machine per architecture", () => {
  const options = { disk: '/w/test-disk.raw', consoleLog: '/w/console.log', firmware: { code: '/fw/CODE.fd', vars: '/fw/VARS.fd' }, varsCopy: '/w/VARS.fd' };

  test('amd64: q35, the console on ttyS0 to a file, the channel on the second serial port (unchanged)', () => {
    expect(QEMU_MACHINES.amd64.binary).toBe('qemu-system-x86_64');
    expect(qemuArgs('amd64', options)).toEqual([
      '-accel', 'tcg', '-machine', 'q35', '-cpu', 'max', '-smp', '2', '-m', '1024',
      '-display', 'none', '-monitor', 'none', '-nodefaults', '-no-reboot',
      '-serial', 'file:/w/console.log', '-serial', 'stdio',
      '-nic', 'user,model=virtio-net-pci',
      '-drive', 'file=/w/test-disk.raw,format=raw,if=virtio',
      '-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd', '-drive', 'if=pflash,format=raw,unit=1,file=/w/VARS.fd',
    ]);
    expect(channelUnitText(QEMU_MACHINES.amd64.channel.device)).toContain('TTYPath=/dev/ttyS1');
  });

  test('arm64: virt with -cpu max (TCG), AAVMF, the console on the PL011, the channel on a virtio console (hvc0, its getty masked)', () => {
    const machine = QEMU_MACHINES.arm64;
    expect(machine.binary).toBe('qemu-system-aarch64');
    expect(machine.uefiFirmware[0]).toEqual({ code: '/usr/share/AAVMF/AAVMF_CODE.fd', vars: '/usr/share/AAVMF/AAVMF_VARS.fd' });
    const args = qemuArgs('arm64', options);
    expect(args.slice(0, 6)).toEqual(['-accel', 'tcg', '-machine', 'virt', '-cpu', 'max,pauth=off']);
    expect(args).toEqual(expect.arrayContaining(['-serial', 'file:/w/console.log', '-chardev', 'stdio,id=channel', '-device', 'virtconsole,chardev=channel']));
    expect(args.filter((a) => a === '-serial')).toHaveLength(1);
    expect(args.slice(-4)).toEqual(['-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd', '-drive', 'if=pflash,format=raw,unit=1,file=/w/VARS.fd']);
    expect(channelUnitText(machine.channel.device)).toContain('TTYPath=/dev/hvc0');
    expect(machine.channelMasks).toEqual(['serial-getty@hvc0.service']);
  });

  test('a BIOS arm64 disk has no runtime, in a few words', async () => {
    expect(await qemuRuntime.unavailable('bios', 'arm64')).toBe('no BIOS firmware for arm64 machines');
  });
});
