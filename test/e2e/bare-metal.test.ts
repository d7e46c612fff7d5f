import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { runCreateImage, REPO_ROOT, CliResult } from '../support/cli';
import { describeWith, rootUser, tool, Prerequisite } from '../support/prereq';
import { SerialVm, haveOvmf } from '../support/qemu';
import { fileDigests } from '../support/tree';

/**
 * bare_metal end to end: build with create_image from the Debian mirror, then boot the disk
 * under QEMU (TCG; UEFI with OVMF, and legacy BIOS) from the disk alone, log in on the
 * serial console with the recipe user's password and look at the running machine.
 */

const TIMESTAMP = '20261126.111500';
const BIOS_CATALOG = join(REPO_ROOT, 'test/fixtures/catalog-bios');
const MINUTE = 60_000;
/** Builds (mmdebstrap with a kernel, xz of the disk) on a shared 2-core machine. */
const BUILD_TIMEOUT = 45 * MINUTE;
/** A TCG boot to the login prompt takes 30-100 s here; leave room for a loaded machine. */
const BOOT_TIMEOUT = 10 * MINUTE;

const ovmf: Prerequisite = { what: 'OVMF firmware (apt-get install ovmf)', check: haveOvmf };

function imageFile(storeDir: string, imageName: string): string {
  return join(storeDir, 'hotdog', 'images', `${imageName}.raw.xz`);
}

/** Decompresses a .raw.xz and enlarges the disk, as writing it to a bigger disk would. */
function diskCopy(xzFile: string, target: string, growBy: string): number {
  execFileSync('sh', ['-c', 'xz -dc -T0 -- "$1" > "$2"', 'sh', xzFile, target]);
  const original = statSync(target).size;
  execFileSync('qemu-img', ['resize', '-q', '-f', 'raw', target, growBy]);
  return original;
}

/** Logs in and reads who the machine is; waits for the first-boot units first. */
async function inspect(vm: SerialVm, password: string) {
  await vm.login('wrangler', password, BOOT_TIMEOUT);
  await vm.check('for i in $(seq 300); do test -s /etc/ssh/ssh_host_ed25519_key.pub && test -e /var/lib/tailor-image/root-grown && break; sleep 1; done');
  return {
    ota: JSON.parse(await vm.check('cat ~/.ota.json')),
    rootSize: Number(await vm.check('df -B1 --output=size / | tail -n 1')),
    rootSource: await vm.check('findmnt -n -o SOURCE /'),
    disk: Number(await vm.check('cat /sys/class/block/vda/size')) * 512,
    rootPartition: Number(await vm.check('cat /sys/class/block/vda2/size')) * 512,
    hostKey: (await vm.check('cat /etc/ssh/ssh_host_ed25519_key.pub')).split(/\s+/)[1],
    machineId: await vm.check('cat /etc/machine-id'),
    efi: (await vm.run('test -d /sys/firmware/efi')).status === 0,
    failed: await vm.check('systemctl --failed --no-legend --plain | cat'),
    cmdline: await vm.check('cat /proc/cmdline'),
    // What a minimised recipe leaves out (man pages, documentation) and keeps (copyright files).
    manEntries: Number(await vm.check('find /usr/share/man -mindepth 1 2>/dev/null | wc -l')),
    docFiles: Number(await vm.check('find /usr/share/doc -type f ! -name copyright 2>/dev/null | wc -l')),
    copyrights: Number(await vm.check('find /usr/share/doc -name copyright 2>/dev/null | wc -l')),
  };
}

describeWith(
  'bare_metal: wrangler builds, boots under QEMU (UEFI and BIOS) and grows to its disk',
  [rootUser(), tool('mmdebstrap'), tool('xz', 'xz-utils'), tool('sfdisk', 'fdisk'), tool('mkfs.vfat', 'dosfstools'),
    tool('mcopy', 'mtools'), tool('qemu-system-x86_64', 'qemu-system-x86'), tool('qemu-img', 'qemu-utils'), ovmf],
  () => {
    const work = mkdtempSync('/var/tmp/tailor-bare-metal-test-');
    const store = join(work, 'store');
    const biosStore = join(work, 'store-bios');
    const tinyStore = join(work, 'store-tiny');
    const password = randomBytes(12).toString('base64url');
    const env = { WRANGLER_PASSWORD: password };
    const vms: SerialVm[] = [];
    const builds: Record<string, Promise<CliResult>> = {};

    beforeAll(() => {
      // The three builds overlap (downloads, chroot work, xz): one wall-clock wait. The test
      // gate is off (--no-test): these tests boot the disks themselves, enlarged, and look at
      // more than the gate does; test-gate.test.ts boots a disk through the gate.
      builds.uefi = runCreateImage(
        ['--name', 'wrangler', '--distribution', 'bookworm', '--local-storage', '--no-test', '--local-storage-path', store,
          '--timestamp', TIMESTAMP, '--json'],
        { env, timeoutMs: BUILD_TIMEOUT },
      );
      builds.bios = runCreateImage(
        ['--name', 'wrangler-bios', '--distribution', 'bookworm', '--recipes-path', BIOS_CATALOG, '--local-storage', '--no-test',
          '--local-storage-path', biosStore, '--timestamp', TIMESTAMP],
        { env, timeoutMs: BUILD_TIMEOUT },
      );
      builds.tiny = runCreateImage(
        ['--name', 'wrangler-tiny', '--distribution', 'bookworm', '--recipes-path', BIOS_CATALOG, '--local-storage', '--no-test',
          '--local-storage-path', tinyStore, '--timestamp', TIMESTAMP],
        { timeoutMs: BUILD_TIMEOUT },
      );
    });

    afterAll(async () => {
      await Promise.all(vms.map((vm) => vm.stop()));
      await Promise.allSettled(Object.values(builds));
      rmSync(work, { recursive: true, force: true });
    }, 5 * MINUTE);

    test('a disk_size smaller than the content fails with one clear line before packing; nothing is stored', async () => {
      const built = await builds.tiny;
      expect(built.code).toBe(1);
      const lines = built.stderr.trim().split('\n').filter((line) => /error:/.test(line));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^create_image: error: disk_size 0\.5 GB of recipe wrangler-tiny is too small: the image needs at least [0-9.]+ GB/,
      );
      expect(built.stderr).not.toMatch(/\n\s+at /);
      // It stopped before writing the disk: no compression started.
      expect(built.stderr).not.toMatch(/compressing the disk/);
      const stored = existsSync(tinyStore)
        ? execFileSync('find', [tinyStore, '-type', 'f'], { encoding: 'utf8' }).trim()
        : '';
      expect(stored).toBe('');
    }, BUILD_TIMEOUT);

    test('create_image builds wrangler for bookworm into local storage, indexed under "raw"', async () => {
      const built = await builds.uefi;
      expect(built.stderr).not.toMatch(/error:/);
      expect(built.code).toBe(0);
      const imageName = `acme_wrangler_bookworm_hotdog_${TIMESTAMP}`;
      const summary = JSON.parse(built.stdout);
      expect(summary).toMatchObject({ image_name: imageName, build_type: 'bare_metal', storage: 'local' });
      const file = imageFile(store, imageName);
      const digests = fileDigests(file);
      const index = JSON.parse(readFileSync(join(store, 'hotdog', 'images', 'index.json'), 'utf8'));
      expect(index[TIMESTAMP].raw.wrangler.bookworm).toMatchObject({ file: imageName, checksum: digests.md5 });
      expect(readFileSync(join(store, 'hotdog', 'images', `${imageName}.sha256`), 'utf8')).toBe(
        `${digests.sha256}  ${imageName}.raw.xz\n`,
      );
      // The password went in through the environment: it is in no stored file.
      for (const name of readdirSync(join(store, 'hotdog', 'images'))) {
        if (!name.endsWith('.raw.xz')) expect(readFileSync(join(store, 'hotdog', 'images', name), 'utf8')).not.toContain(password);
      }
    }, BUILD_TIMEOUT);

    test('two copies on enlarged disks boot by UEFI to a serial login, grow, and make their own identities', async () => {
      const built = await builds.uefi;
      expect(built.code).toBe(0);
      const imageName = `acme_wrangler_bookworm_hotdog_${TIMESTAMP}`;
      const disks = [join(work, 'a.raw'), join(work, 'b.raw')];
      const originalSize = diskCopy(imageFile(store, imageName), disks[0], '+2G');
      diskCopy(imageFile(store, imageName), disks[1], '+1G');
      // The image is content plus headroom, far below the recipe's 8 GB disk_size.
      expect(originalSize).toBeLessThan(3 * 1024 ** 3);

      const booted = disks.map((disk) => SerialVm.boot({ disk, firmware: 'uefi', workDir: work }));
      vms.push(...booted);
      const seen = await Promise.all(booted.map((vm) => inspect(vm, password))).finally(() =>
        Promise.all(booted.map((vm) => vm.stop())),
      );
      for (const [i, machine] of seen.entries()) {
        expect(machine.efi).toBe(true);
        expect(machine.ota).toEqual({ active_version: imageName });
        expect(machine.rootSource).toBe('/dev/vda2');
        expect(machine.disk).toBe(originalSize + (i === 0 ? 2 : 1) * 1024 ** 3);
        // The partition reaches the new disk's end (less the ESP and the GPTs), and the
        // filesystem grew past the size of the whole original disk.
        expect(machine.rootPartition).toBeGreaterThan(machine.disk - 67 * 1024 ** 2);
        expect(machine.rootSize).toBeGreaterThan(originalSize);
        expect(machine.cmdline).toMatch(/console=tty0 console=ttyS0,115200/);
        expect(machine.machineId).toMatch(/^[0-9a-f]{32}$/);
        expect(machine.hostKey).toMatch(/^AAAA/);
        expect(machine.failed).toBe('');
        // wrangler is minimised: no man pages or documentation, the copyright files are there.
        expect({ man: machine.manEntries, doc: machine.docFiles }).toEqual({ man: 0, doc: 0 });
        expect(machine.copyrights).toBeGreaterThan(50);
      }
      expect(seen[0].machineId).not.toBe(seen[1].machineId);
      expect(seen[0].hostKey).not.toBe(seen[1].hostKey);
    }, BUILD_TIMEOUT + 2 * BOOT_TIMEOUT);

    test('the legacy-BIOS recipe boots without UEFI firmware to a serial login', async () => {
      const built = await builds.bios;
      expect(built.stderr).not.toMatch(/error:/);
      expect(built.code).toBe(0);
      const imageName = `acme_wrangler-bios_bookworm_hotdog_${TIMESTAMP}`;
      const disk = join(work, 'bios.raw');
      const originalSize = diskCopy(imageFile(biosStore, imageName), disk, '+1G');
      expect(execFileSync('sfdisk', ['--dump', disk], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).toMatch(/type=21686148-6449-6E6F-744E-656564454649/);
      const vm = SerialVm.boot({ disk, firmware: 'bios', workDir: work });
      vms.push(vm);
      const machine = await inspect(vm, password).finally(() => vm.stop());
      expect(machine.efi).toBe(false);
      expect(machine.ota).toEqual({ active_version: imageName });
      expect(machine.rootPartition).toBeGreaterThan(machine.disk - 3 * 1024 ** 2);
      expect(machine.rootSize).toBeGreaterThan(originalSize);
      expect(machine.failed).toBe('');
      // Not minimised: its man pages are there.
      expect(machine.manEntries).toBeGreaterThan(0);
    }, BUILD_TIMEOUT + BOOT_TIMEOUT);
  },
);
