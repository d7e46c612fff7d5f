import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Architecture } from '../lib/core/architecture';
import { SerialVm } from '../test/support/qemu';
import { BenchRow } from './types';
import { createImage, expectCache, only, ratioRow } from './util';

/**
 * arm64 against amd64, in the same run, on this (amd64) host:
 * - the cold build of `webapp` (lxd, bookworm) for arm64, emulated (qemu-user through
 *   binfmt_misc), against the cold build of the same recipe for amd64 (native): the price
 *   of emulation for a developer; the factory builds arm64 natively on ARM compute;
 * - the boot of the `wrangler` disk to its serial login prompt under QEMU TCG: arm64
 *   (qemu-system-aarch64 -M virt, AAVMF) against amd64 (q35, OVMF). Those two disks come from
 *   the default bootstrap cache (their build time is not what is measured here).
 */
export async function benchArm64(): Promise<BenchRow[]> {
  const work = mkdtempSync('/var/tmp/bench-arm64-');
  const env = { ...process.env, WRANGLER_PASSWORD: randomBytes(12).toString('base64url') };
  try {
    const cold: Record<Architecture, number> = { amd64: 0, arm64: 0 };
    for (const arch of ['amd64', 'arm64'] as const) {
      const args = ['--name', 'webapp', '--distribution', 'bookworm', '--arch', arch, '--build-only', '--no-test',
        '--cache-dir', join(work, `cache-${arch}`), '--work-dir', join(work, 'builder'), '--timestamp', '20261202.000001'];
      const built = await createImage(args, work, env);
      expectCache(`webapp ${arch} cold build`, only(built.summary), 'miss');
      cold[arch] = built.seconds;
      rmSync(join(work, 'images'), { recursive: true, force: true });
    }
    const rows = [
      ratioRow('arm64 cold build, emulated (webapp, lxd, bookworm)', cold.arm64, cold.amd64, 's',
        'baseline: the amd64 cold build of the same recipe on this amd64 host (qemu-user through binfmt_misc for arm64)'),
    ];

    const boot: Record<Architecture, number> = { amd64: 0, arm64: 0 };
    for (const arch of ['amd64', 'arm64'] as const) {
      const built = await createImage(['--name', 'wrangler', '--distribution', 'bookworm', '--arch', arch, '--build-only', '--no-test',
        '--work-dir', join(work, 'builder'), '--timestamp', '20261202.000002'], work, env);
      const image = only(built.summary).artifacts.find((a) => a.file.endsWith('.raw.xz'));
      if (!image) throw new Error(`wrangler ${arch}: create_image made no .raw.xz`);
      const disk = join(work, `wrangler-${arch}.raw`);
      execFileSync('sh', ['-c', 'xz -dc -- "$1" > "$2"', 'sh', image.path, disk]);
      rmSync(join(work, 'images'), { recursive: true, force: true });
      const started = process.hrtime.bigint();
      const vm = SerialVm.boot({ disk, firmware: 'uefi', workDir: work, architecture: arch });
      try {
        await vm.waitFor(/\S login: /, 900_000);
        boot[arch] = Number(process.hrtime.bigint() - started) / 1e9;
      } finally {
        await vm.stop();
      }
      rmSync(disk, { force: true });
    }
    rows.push(ratioRow('arm64 boot to the serial login (wrangler disk, QEMU TCG, AAVMF)', boot.arm64, boot.amd64, 's',
      'baseline: the amd64 wrangler disk to its login under QEMU TCG with OVMF, same run'));
    return rows;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
