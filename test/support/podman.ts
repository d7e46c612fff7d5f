import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** podman with private storage, runc and cgroupfs: the set-up that works on a CI VM. */
export class Podman {
  readonly dir = mkdtempSync(join('/var/tmp', 'tailor-test-podman-'));
  private base(): string[] {
    return [
      '--root', join(this.dir, 'root'), '--runroot', join(this.dir, 'runroot'),
      '--storage-driver', 'vfs', '--runtime', 'runc', '--cgroup-manager=cgroupfs', '--events-backend=none',
    ];
  }
  async run(args: string[]): Promise<string> {
    const { stdout } = await exec('podman', [...this.base(), ...args], { maxBuffer: 16 << 20, timeout: 10 * 60 * 1000 });
    return stdout;
  }
  /** Runs a shell snippet in the image, through its entrypoint. */
  runIn(reference: string, script: string, runArgs: string[] = []): Promise<string> {
    return this.run([
      'run', '--rm', '--network=none', '--ulimit', 'nofile=10000:10000', '--ulimit', 'nproc=1000:1000', ...runArgs,
      reference, 'bash', '-c', script,
    ]);
  }
  async remove(): Promise<void> {
    await this.run(['system', 'reset', '--force']).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
