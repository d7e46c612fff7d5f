import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { architectureNames, hostArchitecture } from '../../core/architecture';
import { findOnPath } from '../../core/host-tools';
import { BuildError } from '../../core/errors';
import { Guest, StartInput, TestRuntime, lastLines, quietLog, runHost } from './guest';

/** This host's architecture as OCI names it (Node's name for one the builder does not know). */
function ociHostArchitecture(): string {
  const host = hostArchitecture();
  return host ? architectureNames(host).oci : process.arch;
}

/** Limits a test container gets: below the host's hard limits (podman fails asking for more). */
const WANTED_LIMITS = { nofile: 10_000, nproc: 1_000 };

/** The host's hard limit for `ulimit -H<flag>` (undefined when unlimited or unknown). */
async function hardLimit(flag: 'n' | 'u'): Promise<number | undefined> {
  const result = await runHost('sh', ['-c', `ulimit -H${flag}`], { timeoutMs: 5_000, log: quietLog });
  const value = Number(result.output.trim());
  return result.status === 0 && Number.isFinite(value) ? value : undefined;
}

/** `--ulimit` arguments for limits at most the host's hard ones. */
export async function ulimitArgs(): Promise<string[]> {
  const args: string[] = [];
  for (const [name, flag] of [['nofile', 'n'], ['nproc', 'u']] as const) {
    const hard = await hardLimit(flag);
    const value = Math.min(WANTED_LIMITS[name], hard ?? WANTED_LIMITS[name]);
    args.push('--ulimit', `${name}=${value}:${value}`);
  }
  return args;
}

/**
 * A podman store private to one test run, with the set-up that works in a CI VM and in
 * CodeBuild. The images live in the build's scratch folder; podman's run state in a short
 * folder of the host's temporary directory (podman refuses a runroot over 50 characters).
 */
export async function privatePodman(scratchDir: string, log: StartInput['log']) {
  const dir = join(scratchDir, 'podman');
  await mkdir(dir, { recursive: true });
  const state = await mkdtemp(join(tmpdir(), 'tailor-podman-'));
  const base = [
    '--root', join(dir, 'root'), '--runroot', join(state, 'run'), '--tmpdir', join(state, 'tmp'),
    '--storage-driver', 'vfs', '--runtime', 'runc', '--cgroup-manager=cgroupfs', '--events-backend=none',
  ];
  const run = (args: string[], timeoutMs = 600_000) => runHost('podman', [...base, ...args], { timeoutMs, log });
  const remove = async () => {
    await run(['system', 'reset', '--force'], 120_000);
    for (const folder of [dir, state]) await rm(folder, { recursive: true, force: true }).catch(() => undefined);
  };
  return { run, remove };
}

/** Why this host cannot run podman with runc, or undefined. */
export function podmanMissing(): string | undefined {
  if (!findOnPath('podman')) return 'no podman command (apt-get install podman)';
  if (!findOnPath('runc')) return 'no runc (apt-get install runc)';
  return undefined;
}

/**
 * docker images in podman: the OCI archive pulled into a podman store private to this test
 * (vfs, runc, cgroupfs: what works in a CI VM and a CodeBuild container), every check one
 * `podman run --rm` through the image's own entrypoint and user, without network; the
 * store is removed after. There is no init to check (a container runs one command).
 */
export const podmanRuntime: TestRuntime = {
  name: 'podman',
  boots: false,

  async unavailable() {
    return podmanMissing();
  },

  async start(input: StartInput): Promise<Guest> {
    const { log } = input;
    const store = await privatePodman(input.scratchDir, log);
    const podman = store.run;
    const stop = store.remove;
    const tag = `localhost/tailor-test:${input.imageName.toLowerCase().replace(/[^a-z0-9_.-]/g, '-').slice(0, 120)}`;
    const pulled = await podman(['pull', '--quiet', `docker-archive:${input.artifact}`]);
    if (pulled.status !== 0) {
      await stop();
      throw new BuildError(`test: podman could not load ${input.artifact}: ${lastLines(pulled.output, 1).join('')}`, pulled.output);
    }
    const id = lastLines(pulled.output, 1)[0];
    await podman(['tag', id, tag]);
    const limits = await ulimitArgs();
    // An image of another architecture (its config's) runs through qemu-user in binfmt_misc;
    // --arch says so to podman, which otherwise warns that the platforms differ.
    const inspected = await podman(['image', 'inspect', '--format', '{{.Architecture}}', id]);
    const arch = inspected.status === 0 ? lastLines(inspected.output, 1)[0]?.trim() : undefined;
    const foreign = arch && arch !== ociHostArchitecture() ? ['--arch', arch] : [];
    log.info(`test: running in podman (runc, a private vfs store; no network)${foreign.length ? `, an ${arch} image through qemu-user (binfmt_misc)` : ''}`);
    return {
      exec: (command, timeoutSeconds) =>
        podman(
          ['run', '--rm', '--network=none', ...foreign, ...limits, '--stop-timeout', '1', '--timeout', String(timeoutSeconds), tag, 'bash', '-c', command],
          (timeoutSeconds + 60) * 1000,
        ),
      stop,
    };
  },
};
