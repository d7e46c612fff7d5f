import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { foreignArchProblem } from '../../lib/builder/foreign-arch';
import { qemuRuntime } from '../../lib/builder/image-tests/qemu';
import { Guest } from '../../lib/builder/image-tests/guest';
import { silentLog } from '../../lib/core/log';
import { CliResult, runCreateImage } from '../support/cli';
import { describeWith, rootUser, tool, Prerequisite } from '../support/prereq';
import { SerialVm, haveUefiFirmware } from '../support/qemu';

/**
 * arm64 bare_metal end to end: the bundled wrangler built for arm64 (bookworm, the rootfs made
 * by emulation through qemu-user; the bootstrap from the shared test cache, so a rerun
 * reuses it), once, with the test gate off (--no-test). Its disk, enlarged, is then booted
 * from the disk alone under qemu-system-aarch64 -M virt (TCG) with AAVMF to a serial login on
 * the PL011, logged in with the recipe user's password, and looked at: aarch64, the root
 * grown to the disk, no failed units. The gate's arm64 runner (the same QEMU machine with its
 * test channel on hvc0) boots another copy of the same stored disk at the same time, so the
 * gate is shown on arm64 without a second build.
 */

const TIMESTAMP = '20261202.043000';
const IMAGE = `acme_wrangler-arm64_bookworm_hotdog_${TIMESTAMP}`;
const MINUTE = 60_000;
/** An emulated arm64 build with a kernel (qemu-user), on a shared 2-core machine. */
const BUILD_TIMEOUT = 45 * MINUTE;
/** An emulated (TCG) aarch64 boot to the login prompt. */
const BOOT_TIMEOUT = 15 * MINUTE;

const aavmf: Prerequisite = { what: 'AAVMF firmware (apt-get install qemu-efi-aarch64)', check: () => haveUefiFirmware('arm64') };
const arm64Programs: Prerequisite = {
  what: 'arm64 programs through qemu-user (./scripts/install-deps: qemu-user-static, binfmt-support)',
  check: () => foreignArchProblem('arm64') === undefined,
};

describeWith(
  'bare_metal arm64: wrangler built by emulation boots under qemu-system-aarch64 -M virt (AAVMF) and grows',
  [rootUser(), tool('mmdebstrap'), tool('xz', 'xz-utils'), tool('sfdisk', 'fdisk'), tool('mkfs.vfat', 'dosfstools'), tool('mcopy', 'mtools'),
    tool('qemu-system-aarch64', 'qemu-system-arm'), tool('qemu-img', 'qemu-utils'), aavmf, arm64Programs],
  () => {
    const work = mkdtempSync('/var/tmp/tailor-arm64-disk-test-');
    const store = join(work, 'store');
    const images = join(store, 'hotdog', 'images');
    const stored = join(images, `${IMAGE}.raw.xz`);
    const password = randomBytes(12).toString('base64url');
    let build: Promise<CliResult>;
    const vms: SerialVm[] = [];
    let gate: Promise<Guest> | undefined;

    beforeAll(() => {
      build = runCreateImage(
        ['--name', 'wrangler', '--arch', 'arm64', '--distribution', 'bookworm', '--local-storage', '--local-storage-path', store,
          '--no-test', '--timestamp', TIMESTAMP, '--json'],
        { env: { WRANGLER_PASSWORD: password }, timeoutMs: BUILD_TIMEOUT },
      );
    });

    afterAll(async () => {
      await Promise.all(vms.map((vm) => vm.stop()));
      await gate?.then((guest) => guest.stop(), () => undefined);
      await build?.catch(() => undefined);
      rmSync(work, { recursive: true, force: true });
    }, 5 * MINUTE);

    test('create_image builds it into local storage: an arm64 GPT disk (root (arm64) type, BOOTAA64.EFI), indexed with arch arm64', async () => {
      const built = await build;
      expect(built.stderr).not.toMatch(/error:/);
      expect(built.code).toBe(0);
      expect(JSON.parse(built.stdout)).toMatchObject({ image_name: IMAGE, build_type: 'bare_metal' });
      const index = JSON.parse(readFileSync(join(images, 'index.json'), 'utf8'));
      expect(index[TIMESTAMP].raw['wrangler-arm64'].bookworm).toMatchObject({ file: IMAGE, arch: 'arm64' });
      const raw = join(work, 'layout.raw');
      execFileSync('sh', ['-c', 'xz -dc -T0 -- "$1" > "$2"', 'sh', stored, raw]);
      const table = execFileSync('sfdisk', ['--dump', raw], { encoding: 'utf8' });
      expect(table).toMatch(/type=B921B045-1DF0-41C3-AF44-4C6F280D3FAE/);
      expect(table).not.toMatch(/type=4F68BCE3/);
      const esp = execFileSync('mdir', ['-b', '-i', `${raw}@@1M`, '::/EFI/BOOT'], { encoding: 'utf8', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
      expect(esp).toMatch(/BOOTAA64\.EFI/);
      expect(esp).not.toMatch(/BOOTX64/);
      // GRUB's arm64 image is an arm64 PE (machine 0xaa64), not an x86 one.
      const grub = execFileSync('mtype', ['-i', `${raw}@@1M`, '::/EFI/BOOT/BOOTAA64.EFI'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' }, maxBuffer: 64 * 2 ** 20 });
      const pe = grub.readUInt32LE(0x3c);
      expect(grub.readUInt16LE(pe + 4)).toBe(0xaa64);
      rmSync(raw, { force: true });
    }, BUILD_TIMEOUT);

    test('an enlarged copy boots by UEFI (AAVMF) to a serial login on the PL011, is aarch64, grows its root, no failed units', async () => {
      expect((await build).code).toBe(0);
      const disk = join(work, 'boot.raw');
      execFileSync('sh', ['-c', 'xz -dc -T0 -- "$1" > "$2"', 'sh', stored, disk]);
      const originalSize = statSync(disk).size;
      execFileSync('qemu-img', ['resize', '-q', '-f', 'raw', disk, '+2G']);
      // The gate's own arm64 runner boots another copy of the stored disk meanwhile.
      gate = qemuRuntime.start({
        artifact: stored, scratchDir: mkdtempSync(join(work, 'gate-')), imageName: IMAGE, firmware: 'uefi', architecture: 'arm64',
        log: silentLog, signal: new AbortController().signal,
      });
      gate.catch(() => undefined);
      const vm = SerialVm.boot({ disk, firmware: 'uefi', architecture: 'arm64', workDir: work });
      vms.push(vm);
      try {
        await vm.login('wrangler', password, BOOT_TIMEOUT);
        await vm.check('for i in $(seq 300); do test -e /var/lib/tailor-image/root-grown && break; sleep 1; done');
        expect(await vm.check('uname -m')).toBe('aarch64');
        expect(await vm.run('test -d /sys/firmware/efi')).toMatchObject({ status: 0 });
        expect(await vm.check('cat /proc/cmdline')).toMatch(/console=tty0 console=ttyS0,115200 console=ttyAMA0,115200/);
        // The login came on the PL011: the kernel's console and the getty the generator started there.
        expect(await vm.check('tty')).toBe('/dev/ttyAMA0');
        expect(await vm.check('findmnt -n -o SOURCE /')).toBe('/dev/vda2');
        const diskBytes = Number(await vm.check('cat /sys/class/block/vda/size')) * 512;
        expect(diskBytes).toBe(originalSize + 2 * 1024 ** 3);
        expect(Number(await vm.check('cat /sys/class/block/vda2/size')) * 512).toBeGreaterThan(diskBytes - 67 * 1024 ** 2);
        expect(Number(await vm.check('df -B1 --output=size / | tail -n 1'))).toBeGreaterThan(originalSize);
        await vm.check('systemctl is-system-running --wait >/dev/null; true', 5 * MINUTE);
        expect(await vm.check('systemctl --failed --no-legend --plain | cat')).toBe('');
      } finally {
        await vm.stop();
      }
    }, BUILD_TIMEOUT + BOOT_TIMEOUT);

    test("the test gate's arm64 runner boots the stored disk (virt, AAVMF, channel on hvc0) and runs commands in it", async () => {
      expect(gate).toBeDefined();
      const guest = await gate!;
      try {
        expect(await guest.exec('uname -m', 60)).toEqual({ status: 0, output: 'aarch64' });
        // The channel is the virtio console: hvc0's generated getty is masked in the copy, so the shell has it alone.
        expect(await guest.exec('systemctl is-enabled serial-getty@hvc0.service', 60)).toMatchObject({ output: 'masked' });
        expect((await guest.exec('systemctl is-system-running --wait', 300)).output).toBe('running');
      } finally {
        await guest.stop();
      }
    }, BOOT_TIMEOUT);
  },
);
