import { spawn } from 'node:child_process';
import { join } from 'node:path';

export const REPO_ROOT = join(__dirname, '..');

/** Runs a command to completion, inheriting nothing but stderr on failure; returns seconds. */
export async function timeCommand(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; shell?: boolean } = {}): Promise<number> {
  const start = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['ignore', 'ignore', 'pipe'],
      shell: options.shell ?? false,
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} failed (${code}): ${stderr.trim().split('\n').pop()}`))));
  });
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export function ratioRow(name: string, value: number, baseline: number, unit: string, note: string) {
  return { name, value: round(value), unit, baseline: round(baseline), ratio: round(value / baseline, 3), note };
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
