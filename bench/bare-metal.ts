import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { packageSet } from '../lib/builder/build';
import { findOnPath } from '../lib/core/host-tools';
import { diskIds } from '../lib/builder/packers/disk/identifiers';
import { planDisk } from '../lib/builder/packers/disk/layout';
import { bootstrapSpecOf } from '../lib/builder/bootstrap-spec';
import { mmdebstrapArguments } from '../lib/builder/mmdebstrap';
import { createImageCommand, CreateImageOptions } from '../lib/cli/create-image-options';
import { resolveRequest } from '../lib/cli/resolve-request';
import { BenchRow } from './types';
import { startRgw } from '../test/support/rgw';
import { createImage, expectCache, only, ratioRow, timeCommand } from './util';

/**
 * The bare-metal build of `wrangler` (bookworm, UEFI), cold and warm, and its peak memory
 * while publishing, against, in the same run:
 * - the floor: mmdebstrap of the same package set, the same GPT disk assembled from files
 *   (sfdisk, mkfs.vfat + mcopy, mkfs.ext4 -d at offsets), xz -T0 of it;
 * - debos (Debian's debos, --disable-fakemachine), building an equivalent disk from the same
 *   packages, then the same xz -T0, when debos is installed.
 * Target: faster than the peer and no larger.
 */
export async function benchBareMetal(): Promise<BenchRow[]> {
  const work = mkdtempSync('/var/tmp/bench-bare-metal-');
  const env = { ...process.env, WRANGLER_PASSWORD: randomBytes(12).toString('base64url') };
  try {
    const args = ['--name', 'wrangler', '--distribution', 'bookworm', '--build-only'];
    const command = createImageCommand('bench');
    command.parse(args, { from: 'user' });
    process.env.WRANGLER_PASSWORD ??= env.WRANGLER_PASSWORD;
    const request = resolveRequest(command.opts<CreateImageOptions>());
    const packages = packageSet(request);

    // The real thing, as a user runs it: cold (an empty bootstrap cache, which it fills).
    const cacheArgs = ['--cache-dir', join(work, 'cache'), '--work-dir', join(work, 'builder')];
    const cold = await createImage([...args, ...cacheArgs, '--timestamp', '20261126.000001'], work, env);
    expectCache('bare-metal cold build', only(cold.summary), 'miss');
    const build = cold.seconds;
    const image = only(cold.summary).artifacts.find((a) => a.file.endsWith('.raw.xz'));
    if (!image) throw new Error('create_image made no .raw.xz');
    const size = image.size / 2 ** 20;
    const rawGiB = Number(execFileSync('xz', ['--robot', '--list', image.path], { encoding: 'utf8' })
      .split('\n').find((line) => line.startsWith('totals'))!.split('\t')[4]) / 2 ** 30;
    rmSync(join(work, 'images'), { recursive: true, force: true });

    // The floor: what any tool must do at least.
    const rootfs = join(work, 'floor', 'rootfs');
    mkdirSync(join(work, 'floor'), { recursive: true });
    // Plain mmdebstrap: the floor does not minimise (ours does, from the recipe's `minimise`).
    const floorSpec = { ...bootstrapSpecOf(request, packages), dpkgOptions: [] };
    const floorBootstrap = await timeCommand('mmdebstrap', mmdebstrapArguments(floorSpec, rootfs));
    const floorDisk = join(work, 'floor.raw');
    const floorAssemble = await timeAssembly(rootfs, floorDisk, work);
    const floorXz = await timeCommand('sh', ['-c', 'xz -T0 -c -- "$1" > "$1.xz"', 'sh', floorDisk]);
    const floorSize = statSync(`${floorDisk}.xz`).size / 2 ** 20;
    const floor = floorBootstrap + floorAssemble + floorXz;
    rmSync(join(work, 'floor'), { recursive: true, force: true });

    const floorNote = `floor: mmdebstrap of the same ${packages.length} packages ${floorBootstrap.toFixed(1)} s + disk ` +
      `${floorAssemble.toFixed(1)} s + xz -T0 ${floorXz.toFixed(1)} s`;
    const rows = [
      ratioRow('bare-metal cold build (wrangler, bookworm, uefi)', build, floor, 's', floorNote),
      ratioRow('bare-metal .raw.xz size (wrangler, bookworm)', size, floorSize, 'MiB', 'floor: xz -T0 of the floor disk'),
    ];

    // Warm: the same recipe again, then once more published to S3 (Ceph RGW on loopback),
    // where the builder's peak memory is read while it packs and uploads the disk image.
    const warm = await createImage([...args, ...cacheArgs, '--timestamp', '20261126.000002'], work, env);
    expectCache('bare-metal warm rebuild', only(warm.summary), 'hit');
    rmSync(join(work, 'images'), { recursive: true, force: true });
    rows.push(ratioRow('bare-metal warm rebuild (wrangler, bookworm)', warm.seconds, build, 's',
      'baseline: the cold build (both spend most of their time in xz -T0 of the disk); target <= 0.3'));
    const rgw = await startRgw();
    try {
      await rgw.createBucket('bench-images');
      const published = await createImage(
        ['--name', 'wrangler', '--distribution', 'bookworm', '--publish', '--bucket', 'bench-images', ...cacheArgs, '--timestamp', '20261126.000003'],
        work, { ...env, ...rgw.env },
      );
      rows.push(ratioRow(`bare-metal builder peak RSS, packing + publishing a ${rawGiB.toFixed(1)} GiB disk`, only(published.summary).peak_rss_mib, 512,
        'MiB', 'baseline: the 512 MiB budget; target < 1'));
    } finally {
      await rgw.stop();
    }

    const peer = await debosPeer(packages, work).catch((error: Error) => {
      process.stderr.write(`bench bare-metal: debos failed: ${error.message.split('\n')[0]}\n`);
      return undefined;
    });
    if (peer) {
      const note = `peer: debos ${peer.version} --disable-fakemachine ${peer.build.toFixed(1)} s + xz -T0 ${peer.xz.toFixed(1)} s; target < 1`;
      rows.push(ratioRow('bare-metal build vs debos', build, peer.build + peer.xz, 's', note));
      rows.push(ratioRow('bare-metal .raw.xz size vs debos', size, peer.size, 'MiB', 'peer: debos disk, xz -T0; target <= 1'));
    }
    return rows;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The floor's disk: the same layout the packer computes, written with plain commands. */
async function timeAssembly(rootfs: string, disk: string, work: string): Promise<number> {
  const start = process.hrtime.bigint();
  const bytes = Number(execFileSync('du', ['-s', '-x', '-B1', rootfs], { encoding: 'utf8' }).split(/\s/)[0]);
  const inodes = Number(execFileSync('du', ['-s', '-x', '--inodes', rootfs], { encoding: 'utf8' }).split(/\s/)[0]);
  const ids = diskIds('bench-floor');
  const layout = planDisk({ bytes, inodes }, 'uefi', 8, ids, 'floor');
  execFileSync('truncate', ['-s', String(layout.totalBytes), disk]);
  execFileSync('sfdisk', ['--quiet', disk], {
    input: `label: gpt\nstart=${layout.boot.offset / 512}, size=${layout.boot.size / 512}, type=uefi\nstart=${layout.root.offset / 512}, type=linux\n`,
  });
  execFileSync('mkfs.vfat', ['-F', '32', '-s', '1', '--offset', String(layout.boot.offset / 512), disk, String(layout.boot.size / 1024)]);
  const efi = join(work, 'BOOTX64.EFI');
  writeFileSync(efi, randomBytes(64 * 1024));
  execFileSync('mmd', ['-i', `${disk}@@${layout.boot.offset}`, '::/EFI', '::/EFI/BOOT'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  execFileSync('mcopy', ['-i', `${disk}@@${layout.boot.offset}`, efi, '::/EFI/BOOT/BOOTX64.EFI'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  execFileSync('mkfs.ext4', ['-F', '-q', '-E', `offset=${layout.root.offset},nodiscard`, '-d', rootfs, disk, `${layout.root.size / 1024}k`]);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/**
 * debos building the same image: debootstrap, the same packages, a GPT disk with an ESP and
 * an ext4 root (debos sizes disks up front: the floor's size, rounded up), GRUB EFI.
 */
async function debosPeer(packages: string[], work: string): Promise<{ version: string; build: number; xz: number; size: number } | undefined> {
  if (!findOnPath('debos')) {
    process.stderr.write('bench bare-metal: debos is not installed (apt-get install debos): no peer rows\n');
    return undefined;
  }
  // debos runs `udevadm trigger --settle` on its loop device; without a udev daemon that hangs.
  if (!existsSync('/run/udev/control')) {
    process.stderr.write('bench bare-metal: no udev daemon running (/run/udev/control): debos would hang, no peer rows\n');
    return undefined;
  }
  const dir = join(work, 'debos');
  mkdirSync(dir, { recursive: true });
  mkdirSync('/dev/disk', { recursive: true });
  const recipe = `architecture: amd64
actions:
  - action: debootstrap
    suite: bookworm
    components: [main]
    mirror: http://deb.debian.org/debian
    variant: minbase
  - action: apt
    recommends: false
    packages: [${packages.join(', ')}]
  - action: image-partition
    imagename: disk.raw
    imagesize: 2GB
    partitiontype: gpt
    mountpoints:
      - mountpoint: /
        partition: root
    partitions:
      - name: ESP
        fs: none
        start: 1MiB
        end: 65MiB
        flags: [ boot, esp ]
      - name: root
        fs: ext4
        start: 65MiB
        end: 100%
  - action: filesystem-deploy
    setup-fstab: true
    setup-kernel-cmdline: true
  - action: run
    chroot: true
    command: grub-mkimage -O x86_64-efi -p '(,gpt2)/boot/grub' -o /boot/grub-core.efi part_gpt ext2
`;
  writeFileSync(join(dir, 'wrangler.yaml'), recipe);
  const version = execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'debos'], { encoding: 'utf8' });
  const build = await timeCommand('timeout', ['1800', 'debos', '--disable-fakemachine', '--artifactdir', dir, join(dir, 'wrangler.yaml')], { cwd: dir });
  const disk = join(dir, 'disk.raw');
  const xz = await timeCommand('sh', ['-c', 'xz -T0 -c -- "$1" > "$1.xz"', 'sh', disk]);
  return { version, build, xz, size: statSync(`${disk}.xz`).size / 2 ** 20 };
}
