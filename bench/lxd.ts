import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageSet } from '../lib/builder/build';
import { mmdebstrapArguments } from '../lib/builder/stages/bootstrap';
import { createImageCommand, CreateImageOptions } from '../lib/cli/create-image-options';
import { resolveRequest } from '../lib/cli/resolve-request';
import { BenchRow } from './types';
import { ratioRow, REPO_ROOT, timeCommand } from './util';

/**
 * The cold build of `webapp` (lxd, bookworm) against its floor, measured beside it:
 * mmdebstrap of the same package set from the same mirror, then tar | pigz of that tree.
 * Target: at most 1.2x the floor's time.
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
    const floorBootstrap = await timeCommand('mmdebstrap', mmdebstrapArguments({
      distribution: request.distribution, request, recipe: request.recipe, packages, rootfs,
    }));
    const floorTarball = join(work, 'floor.tar.gz');
    const floorPack = await timeCommand('tar', [
      '--create', `--file=${floorTarball}`, `--use-compress-program=pigz -p ${cpus().length}`, '--numeric-owner',
      '--xattrs', '--xattrs-include=*', '--acls', '--directory', join(work, 'floor'), 'rootfs',
    ]);
    const floor = floorBootstrap + floorPack;

    // The real thing, as a user runs it.
    const build = await timeCommand(process.execPath, [join(REPO_ROOT, 'dist', 'create_image.js'), ...args, '--quiet',
      '--work-dir', join(work, 'builder')], { cwd: work, env: { ...process.env } });
    const image = readdirSync(join(work, 'images')).find((f) => f.endsWith('.tar.gz'))!;
    const imageSize = statSync(join(work, 'images', image)).size / 2 ** 20;
    const floorSize = statSync(floorTarball).size / 2 ** 20;
    return [
      ratioRow('lxd cold build (webapp, bookworm)', build, floor, 's',
        `floor: mmdebstrap of the same ${packages.length} packages ${floorBootstrap.toFixed(1)} s + tar|pigz ${floorPack.toFixed(1)} s; target <= 1.2`),
      ratioRow('lxd image size (webapp, bookworm)', imageSize, floorSize, 'MiB', 'floor: tar|pigz of the floor rootfs'),
    ];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
