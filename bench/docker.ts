import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, relative } from 'node:path';
import { BenchRow } from './types';
import { coldThenWarm, floorBootstrap, ImageSummary, planOf, ratioRow, timeCommand } from './util';
import { pushImage } from '../lib/storage/registry/push';
import { silentLog } from '../lib/core/log';
import { startRegistry } from '../test/support/registry';

/** A copy of the recipe's catalog with one more shell line in the recipe (same packages, same base). */
function oneLineChange(recipeFile: string, catalog: string, work: string): string {
  const copy = join(work, 'changed-catalog');
  cpSync(catalog, copy, { recursive: true });
  const file = join(copy, relative(catalog, recipeFile));
  const text = readFileSync(file, 'utf8');
  if (/^shell:/m.test(text)) throw new Error(`${file} has a shell: list already; change the bench's one-line change`);
  writeFileSync(file, `${text.trimEnd()}\nshell: ["echo rebuilt > /etc/tailor-bench-change"]\n`);
  return copy;
}

function ociArchive(summary: ImageSummary): string {
  const file = summary.artifacts.find((a) => a.file.endsWith('.oci.tar'));
  if (!file) throw new Error('create_image made no .oci.tar');
  return file.path;
}

/** Pushes each archive in turn to a fresh registry: the bytes it stored for each, and the last image's own size. */
async function registryBytes(archives: string[]): Promise<number[] & { image: number }> {
  const registry = await startRegistry();
  try {
    const stored: number[] = [];
    let before = 0;
    for (const [i, archive] of archives.entries()) {
      await pushImage({ source: archive, registry: registry.address, name: `acme/dev-env:v${i}`, env: {}, log: silentLog });
      const now = duBytes(registry.dataDir);
      stored.push(now - before);
      before = now;
    }
    const image = Number(execFileSync('sh', ['-c', 'tar -tvf "$1" | awk \'$6 ~ /^blobs\\/sha256\\// { sum += $3 } END { print sum }\'', 'sh', archives.at(-1)!], { encoding: 'utf8' }));
    return Object.assign(stored, { image });
  } finally {
    await registry.stop();
  }
}

function duBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', '--', dir], { encoding: 'utf8' }).split('\t')[0]);
}

/**
 * `dev-env` (docker, bookworm; provisioned by an ansible playbook): its cold build against
 * the floor measured beside it (mmdebstrap of the same package set, the same playbook over
 * ansible's chroot connection, tar | pigz -n of the tree; target at most 1.2x), and a warm
 * rebuild against the cold build (target at most 0.3x).
 */
export async function benchDocker(): Promise<BenchRow[]> {
  const work = mkdtempSync('/var/tmp/bench-docker-');
  try {
    const args = ['--name', 'dev-env', '--distribution', 'bookworm', '--build-only'];
    const { request, packages } = planOf(args);

    const { rootfs, seconds: floorMmdebstrap } = await floorBootstrap(work, request, packages);
    const floorPlaybook = await timeCommand('ansible-playbook', [
      '--inventory', `${rootfs},`, '--connection', 'community.general.chroot', join(request.recipe.baseDir, request.recipe.ansible!.playbook),
    ], { env: { ...process.env, ANSIBLE_PYTHON_INTERPRETER: '/usr/bin/python3', ANSIBLE_HOST_KEY_CHECKING: 'False' } });
    const floorPack = await timeCommand('sh', ['-c',
      `tar --create --file=- --numeric-owner --xattrs --directory='${rootfs}' . | pigz -n -p ${cpus().length} -c > '${join(work, 'floor.tar.gz')}'`]);
    const floor = floorMmdebstrap + floorPlaybook + floorPack;
    rmSync(join(work, 'floor'), { recursive: true, force: true });

    // The warm rebuild is of the recipe after a one-line change (a shell line more), as
    // the fleet's CI rebuilds it; both images then go to a registry, counting what it stores.
    const changed = oneLineChange(request.recipe.origin, request.recipe.baseDir, work);
    const { cold, warm } = await coldThenWarm('docker', args, work, process.env, ['--recipes-path', changed]);
    const stages = (s: ImageSummary) => Object.entries(s.timings ?? {}).map(([stage, t]) => `${stage} ${t.toFixed(1)}`).join(', ');
    console.error(`docker cold: ${stages(cold.summary)}\ndocker warm: ${stages(warm.summary)}`);
    const pushed = await registryBytes([ociArchive(cold.summary), ociArchive(warm.summary)]);
    return [
      ratioRow('docker cold build (dev-env, bookworm)', cold.seconds, floor, 's',
        `floor: mmdebstrap of the same ${packages.length} packages ${floorMmdebstrap.toFixed(1)} s + the playbook ` +
        `${floorPlaybook.toFixed(1)} s + tar|pigz ${floorPack.toFixed(1)} s; ours also writes .docker.tar and .oci.tar; target <= 1.2`),
      ratioRow('docker warm rebuild (dev-env, bookworm)', warm.seconds, cold.seconds, 's',
        'baseline: the cold build; the recipe changed by one line (a shell command); target <= 0.2'),
      ratioRow('docker push after a one-line change (dev-env)', pushed[1] / 2 ** 20, pushed.image / 2 ** 20, 'MiB',
        `bytes the registry stored for the new version, against the image's own (${(pushed[0] / 2 ** 20).toFixed(1)} MiB stored for the first); target <= 0.1`),
    ];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
