import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageSet } from '../lib/builder/build';
import { mmdebstrapArguments } from '../lib/builder/stages/bootstrap';
import { createImageCommand, CreateImageOptions } from '../lib/cli/create-image-options';
import { resolveRequest } from '../lib/cli/resolve-request';
import { BenchRow } from './types';
import { createImage, expectCache, only, ratioRow, timeCommand } from './util';

/**
 * `webapp` (lxd, bookworm): its cold build against the floor measured beside it (mmdebstrap
 * of the same package set from the same mirror, then tar | pigz of that tree; target at
 * most 1.2x), and a warm rebuild against the cold build (target at most 0.3x).
 */
export async function benchLxd(): Promise<BenchRow[]> {
  const work = mkdtempSync(join(tmpdir(), 'bench-lxd-'));
  try {
    const args = ['--name', 'webapp', '--distribution', 'bookworm', '--build-only'];
    const command = createImageCommand('bench');
    command.parse(args, { from: 'user' });
    const request = resolveRequest(command.opts<CreateImageOptions>());
    const packages = packageSet(request);

    // The floor: what any tool must do at least.
    const rootfs = join(work, 'floor', 'rootfs');
    mkdirSync(join(work, 'floor'));
    const floorBootstrap = await timeCommand('mmdebstrap', mmdebstrapArguments({
      distribution: request.distribution, request, recipe: request.recipe, packages, rootfs,
    }));
    const floorTarball = join(work, 'floor.tar.gz');
    const floorPack = await timeCommand('tar', [
      '--create', `--file=${floorTarball}`, `--use-compress-program=pigz -p ${cpus().length}`, '--numeric-owner',
      '--xattrs', '--xattrs-include=*', '--acls', '--directory', join(work, 'floor'), 'rootfs',
    ]);
    const floor = floorBootstrap + floorPack;

    // The real thing, as a user runs it: first with an empty cache, then again.
    const cacheArgs = ['--cache-dir', join(work, 'cache'), '--work-dir', join(work, 'builder')];
    const cold = await createImage([...args, ...cacheArgs, '--timestamp', '20261126.000001'], work);
    const warm = await createImage([...args, ...cacheArgs, '--timestamp', '20261126.000002'], work);
    const [coldSummary, warmSummary] = [only(cold.summary), only(warm.summary)];
    expectCache('lxd cold build', coldSummary, 'miss');
    expectCache('lxd warm rebuild', warmSummary, 'hit');
    const imageSize = coldSummary.artifacts[0].size / 2 ** 20;
    const floorSize = statSync(floorTarball).size / 2 ** 20;
    return [
      ratioRow('lxd cold build (webapp, bookworm)', cold.seconds, floor, 's',
        `floor: mmdebstrap of the same ${packages.length} packages ${floorBootstrap.toFixed(1)} s + tar|pigz ${floorPack.toFixed(1)} s; target <= 1.2`),
      ratioRow('lxd warm rebuild (webapp, bookworm)', warm.seconds, cold.seconds, 's', 'baseline: the cold build; target <= 0.3'),
      ratioRow('lxd image size (webapp, bookworm)', imageSize, floorSize, 'MiB', 'baseline: tar|pigz of the floor rootfs'),
      ratioRow('lxd builder peak RSS', Math.max(coldSummary.peak_rss_mib, warmSummary.peak_rss_mib), 512, 'MiB',
        'baseline: the 512 MiB budget; target < 1'),
    ];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
