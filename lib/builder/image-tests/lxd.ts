import { randomBytes } from 'node:crypto';
import { findOnPath } from '../../core/host-tools';
import { BuildError } from '../../core/errors';
import { Guest, StartInput, TestRuntime, lastLines, quietLog, runHost } from './guest';

/**
 * lxd images in LXD: the tar.gz imported under a throwaway alias, launched as a throwaway
 * instance, checked through `lxc exec`; instance and image deleted after. The instance's
 * host name is its name (the image's hostname template), so the checks expect that.
 */
export const lxdRuntime: TestRuntime = {
  name: 'lxd',
  boots: true,

  async unavailable() {
    if (!findOnPath('lxc')) return 'no lxc command (LXD is not installed)';
    const pools = await runHost('lxc', ['storage', 'list', '--format', 'csv'], { timeoutMs: 20_000, log: quietLog });
    if (pools.status !== 0) return `no LXD daemon answers (${lastLines(pools.output, 1)[0] ?? `lxc exit ${pools.status}`})`;
    if (pools.output.trim() === '') return 'LXD has no storage pool (lxd init)';
    return undefined;
  },

  async start(input: StartInput): Promise<Guest> {
    const { log } = input;
    const instance = `tailor-test-${randomBytes(4).toString('hex')}`;
    const alias = `${instance}-image`;
    const lxc = (args: string[], timeoutMs = 300_000) => runHost('lxc', args, { timeoutMs, log });
    const stop = async () => {
      await lxc(['delete', '--force', instance], 120_000);
      await lxc(['image', 'delete', alias], 120_000);
    };
    const imported = await lxc(['image', 'import', input.artifact, '--alias', alias]);
    if (imported.status !== 0) {
      await stop();
      throw new BuildError(`test: lxc image import failed: ${lastLines(imported.output, 1).join('')}`, imported.output);
    }
    const launched = await lxc(['launch', alias, instance]);
    if (launched.status !== 0) {
      await stop();
      throw new BuildError(`test: lxc launch failed: ${lastLines(launched.output, 1).join('')}`, launched.output);
    }
    log.info(`test: running in LXD as ${instance} (image alias ${alias}; both deleted after)`);
    return {
      hostname: instance,
      exec: (command, timeoutSeconds) =>
        lxc(['exec', instance, '--', 'timeout', '-k', '5', String(timeoutSeconds), 'sh', '-c', command], (timeoutSeconds + 30) * 1000),
      stop,
    };
  },
};
