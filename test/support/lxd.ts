import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { REPO_ROOT } from './cli';
import { Prerequisite, tool } from './prereq';

const exec = promisify(execFile);

/** LXD installed; the set-up script starts the daemon and gives it a storage pool. */
export function lxdPrerequisites(): Prerequisite[] {
  return [
    tool('lxd'),
    tool('lxc', 'lxd-client'),
    {
      what: 'a running LXD with a storage pool (scripts/lxd-setup)',
      check: () => {
        try {
          execFileSync(join(REPO_ROOT, 'scripts', 'lxd-setup'), { stdio: 'ignore', timeout: 90000 });
          return true;
        } catch {
          return false;
        }
      },
    },
  ];
}

/**
 * Runs lxc with standard input closed: `lxc launch`/`init` read instance config from a
 * stdin that is not a terminal, and would wait forever on an open pipe.
 */
export function lxc(args: string[], timeoutMs = 120000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('lxc', args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      code === 0 ? resolve(stdout) : reject(new Error(`lxc ${args.join(' ')} failed (${signal ?? code}): ${stderr.trim()}`)),
    );
  });
}

export async function lxcExec(container: string, command: string[]): Promise<string> {
  return (await lxc(['exec', container, '--', ...command])).trim();
}

/** Waits until systemd in the container has finished booting: "running" or "degraded". */
export async function waitForSystemd(container: string, timeoutMs = 120000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let state = '';
  while (Date.now() < deadline) {
    try {
      const { stdout } = await exec('lxc', ['exec', container, '--', 'systemctl', 'is-system-running'], { timeout: 20000 });
      state = stdout.trim();
    } catch (error) {
      // is-system-running exits non-zero while starting or degraded; its output still says which.
      state = String((error as { stdout?: string }).stdout ?? '').trim();
    }
    if (state === 'running' || state === 'degraded') return state;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  throw new Error(`${container}: systemd did not finish booting (last state "${state}")`);
}

/** Removes containers and image aliases a test made, ignoring ones that are gone. */
export async function removeLxdThings(containers: string[], aliases: string[]): Promise<void> {
  for (const container of containers) await lxc(['delete', '--force', container]).catch(() => undefined);
  for (const alias of aliases) await lxc(['image', 'delete', alias]).catch(() => undefined);
}
