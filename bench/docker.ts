import { mkdtempSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { BenchRow } from './types';
import { coldThenWarm, floorBootstrap, planOf, ratioRow, timeCommand } from './util';

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

    const { cold, warm } = await coldThenWarm('docker', args, work);
    return [
      ratioRow('docker cold build (dev-env, bookworm)', cold.seconds, floor, 's',
        `floor: mmdebstrap of the same ${packages.length} packages ${floorMmdebstrap.toFixed(1)} s + the playbook ` +
        `${floorPlaybook.toFixed(1)} s + tar|pigz ${floorPack.toFixed(1)} s; ours also writes .docker.tar and .oci.tar; target <= 1.2`),
      ratioRow('docker warm rebuild (dev-env, bookworm)', warm.seconds, cold.seconds, 's', 'baseline: the cold build; target <= 0.3'),
    ];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
