import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildError } from '../../core/errors';
import { Guest, StartInput, TestRuntime, lastLines, runHost } from './guest';
import { podmanMissing, privatePodman, ulimitArgs } from './podman';

/**
 * lxd images where no LXD daemon runs (a CodeBuild container): the tarball's rootfs unpacked
 * into the build's scratch folder and booted by podman with systemd as PID 1
 * (`--systemd=always`), each check by `podman exec`; container, store and tree removed after.
 * The instance is given the recipe's host name (LXD's template would give its own).
 */
export const podmanBootRuntime: TestRuntime = {
  name: 'podman-systemd',
  boots: true,

  async unavailable() {
    return podmanMissing();
  },

  async start(input: StartInput): Promise<Guest> {
    const { log } = input;
    const tree = join(input.scratchDir, 'lxd-tree');
    await mkdir(tree, { recursive: true });
    const unpacked = await runHost('tar', ['-xzf', input.artifact, '-C', tree, '--numeric-owner', '--xattrs', '--xattrs-include=*', 'rootfs'], {
      timeoutMs: 20 * 60_000,
      log,
    });
    const store = await privatePodman(input.scratchDir, log);
    const stop = async () => {
      await store.remove();
      await rm(tree, { recursive: true, force: true }).catch(() => undefined);
    };
    if (unpacked.status !== 0) {
      await stop();
      throw new BuildError(`test: cannot unpack the lxd image: ${lastLines(unpacked.output, 1).join('')}`, unpacked.output);
    }
    const hostname = `tailor-test-${process.pid}`;
    const started = await store.run([
      'run', '--detach', '--systemd=always', '--network=none', '--hostname', hostname, ...(await ulimitArgs()),
      '--rootfs', join(tree, 'rootfs'), '/sbin/init',
    ]);
    if (started.status !== 0) {
      await stop();
      throw new BuildError(`test: podman could not boot the lxd image: ${lastLines(started.output, 1).join('')}`, started.output);
    }
    const id = lastLines(started.output, 1)[0];
    log.info(`test: no LXD daemon here: booting the rootfs with systemd under podman (container ${id.slice(0, 12)}; removed after)`);
    return {
      hostname,
      exec: (command, timeoutSeconds) =>
        store.run(['exec', id, 'timeout', '-k', '5', String(timeoutSeconds), 'sh', '-c', command], (timeoutSeconds + 30) * 1000),
      stop: async () => {
        await store.run(['rm', '--force', '--time', '1', id], 120_000);
        await stop();
      },
    };
  },
};
