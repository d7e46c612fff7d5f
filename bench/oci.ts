import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CleanupStack } from '../lib/builder/cleanup';
import { silentLog } from '../lib/core/log';
import { buildOciLayout, ociPacker } from '../lib/builder/packers/oci';
import { PackInput } from '../lib/builder/packers/packer';
import { BuildRequest } from '../lib/builder/request';
import { createImageCommand, CreateImageOptions } from '../lib/cli/create-image-options';
import { resolveRequest } from '../lib/cli/resolve-request';
import { BenchRow } from './types';
import { ratioRow, timeCommand } from './util';

const ROUNDS = 3;
const TIMESTAMP = '20260101.120000';

/**
 * The OCI packer against its floor, on the same rootfs (a bookworm apt-variant tree with
 * sudo, made here with mmdebstrap, or $TAILOR_BENCH_ROOTFS): the floor is
 * `tar -c . | pigz -n -T -6`, the same compression the layer uses. Median of 3 rounds each,
 * alternated so the page cache treats both alike.
 */
export async function benchOci(): Promise<BenchRow[]> {
  const work = mkdtempSync(join('/var/tmp', 'bench-oci-'));
  try {
    let rootfs = process.env.TAILOR_BENCH_ROOTFS;
    if (!rootfs) {
      rootfs = join(work, 'rootfs');
      await timeCommand('mmdebstrap', ['--quiet', '--variant=apt', '--include=sudo,ca-certificates', 'bookworm', rootfs,
        process.env.TAILOR_BENCH_MIRROR ?? 'http://deb.debian.org/debian']);
    }
    // The request create_image makes, with a recipe that runs as root (the bench rootfs has no users).
    const command = createImageCommand('bench');
    command.parse(['--name', 'dev-env', '--distribution', 'bookworm', '--build-only', '--timestamp', TIMESTAMP, '--work-dir', work],
      { from: 'user' });
    const resolved = resolveRequest(command.opts<CreateImageOptions>());
    const recipe = { ...resolved.recipe, user: undefined, docker: { env: {}, labels: {}, cmd: ['bash'] } };
    const request: BuildRequest = { ...resolved, recipe };
    const inputFor = (dir: string): PackInput => {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(join(dir, 'staging'), { recursive: true });
      mkdirSync(join(dir, 'scratch'), { recursive: true });
      return {
        request, rootfs: rootfs!, stagingDir: join(dir, 'staging'), scratchDir: join(dir, 'scratch'),
        log: silentLog, signal: new AbortController().signal, cleanups: new CleanupStack(),
      };
    };
    const seconds = async (action: () => Promise<unknown>) => {
      const start = process.hrtime.bigint();
      await action();
      return Number(process.hrtime.bigint() - start) / 1e9;
    };
    const floorFile = join(work, 'floor.tar.gz');
    const floorScript = `tar --create --file=- --directory='${rootfs}' . | pigz -n -T -6 -c > '${floorFile}'`;
    await timeCommand('sh', ['-c', floorScript]); // warm the page cache

    const floor: number[] = [];
    const layer: number[] = [];
    const pack: number[] = [];
    let layerSize = 0;
    for (let round = 0; round < ROUNDS; round++) {
      floor.push(await timeCommand('sh', ['-c', floorScript]));
      const layoutInput = inputFor(join(work, 'layout'));
      layer.push(await seconds(async () => {
        const layout = await buildOciLayout(layoutInput, join(layoutInput.scratchDir, 'oci-layout'));
        layerSize = layout.layers.reduce((sum, layer) => sum + layer.size, 0);
      }));
      pack.push(await seconds(() => ociPacker.pack(inputFor(join(work, 'pack')))));
    }
    const floorSize = statSync(floorFile).size / 2 ** 20;
    const floorTime = median(floor);
    return [
      ratioRow('oci layer + config + manifest (apt+sudo, bookworm)', median(layer), floorTime, 's',
        `floor: tar | pigz -n -T -6 of the same rootfs, median of ${ROUNDS}`),
      ratioRow('oci pack: layout + .docker.tar + .oci.tar', median(pack), floorTime, 's',
        `floor: tar | pigz -n -T -6 of the same rootfs, median of ${ROUNDS}`),
      ratioRow('oci layer size', layerSize / 2 ** 20, floorSize, 'MiB', 'floor: tar | pigz of the same rootfs'),
    ];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
