import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './cli';

export interface RunningServe {
  url: string;
  process: ChildProcess;
  stop: () => Promise<void>;
}

/**
 * Starts the bundled `serve` command on 127.0.0.1 (any free port) and waits for its URL;
 * `extraArgs` add flags (--idle-timeout, --max-connections).
 */
export function startServe(root: string, cert: string, key: string, extraArgs: string[] = []): Promise<RunningServe> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'serve.js'), '--local-storage-path', root,
    '--address', '127.0.0.1', '--port', '0', '--tls-cert', cert, '--tls-key', key, '--quiet', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('close', () => resolve());
      child.kill('SIGTERM');
    });
  return new Promise((resolve, reject) => {
    let stdout = '';
    child.stdout!.on('data', (chunk) => {
      stdout += chunk;
      const match = /at (https:\/\/\S+)/.exec(stdout);
      if (match) resolve({ url: match[1], process: child, stop });
    });
    child.once('close', (code) => reject(new Error(`serve exited (${code}): ${stderr.trim()}`)));
  });
}
