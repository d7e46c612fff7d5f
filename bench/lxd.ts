import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchRow } from './types';
import { coldThenWarm, floorBootstrap, planOf, ratioRow, timeCommand } from './util';

/**
 * `webapp` (lxd, bookworm): its cold build against the floor measured beside it (mmdebstrap
 * of the same package set from the same mirror, then tar | pigz of that tree; target at
 * most 1.2x), and a warm rebuild against the cold build (target at most 0.3x).
 */
export async function benchLxd(): Promise<BenchRow[]> {
  const work = mkdtempSync(join(tmpdir(), 'bench-lxd-'));
  try {
    const args = ['--name', 'webapp', '--distribution', 'bookworm', '--build-only'];
    const { request, packages } = planOf(args);

    // The floor: what any tool must do at least.
    const floor = await floorBootstrap(work, request, packages);
    const floorTarball = join(work, 'floor.tar.gz');
    const floorPack = await timeCommand('tar', [
      '--create', `--file=${floorTarball}`, `--use-compress-program=pigz -p ${cpus().length}`, '--numeric-owner',
      '--xattrs', '--xattrs-include=*', '--acls', '--directory', join(work, 'floor'), 'rootfs',
    ]);

    // The real thing, as a user runs it: first with an empty cache, then again.
    const { cold, warm } = await coldThenWarm('lxd', args, work);
    const imageSize = cold.summary.artifacts[0].size / 2 ** 20;
    const floorSize = statSync(floorTarball).size / 2 ** 20;
    return [
      ratioRow('lxd cold build (webapp, bookworm)', cold.seconds, floor.seconds + floorPack, 's',
        `floor: mmdebstrap of the same ${packages.length} packages ${floor.seconds.toFixed(1)} s + tar|pigz ${floorPack.toFixed(1)} s; target <= 1.2`),
      ratioRow('lxd warm rebuild (webapp, bookworm)', warm.seconds, cold.seconds, 's', 'baseline: the cold build; target <= 0.3'),
      ratioRow('lxd image size (webapp, bookworm)', imageSize, floorSize, 'MiB', 'baseline: tar|pigz of the floor rootfs'),
      ratioRow('lxd builder peak RSS', Math.max(cold.summary.peak_rss_mib, warm.summary.peak_rss_mib), 512, 'MiB',
        'baseline: the 512 MiB budget; target < 1'),
    ];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
