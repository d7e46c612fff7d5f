import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Builds in the tests share one bootstrap cache (content-addressed, so sharing is safe). */
export const TEST_CACHE_DIR = process.env.TAILOR_IMAGE_CACHE_DIR ?? join(tmpdir(), 'tailor-image-test-cache');

export const REPO_ROOT = join(__dirname, '..', '..');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a bundled command (dist/<command>.js, made by `npm run build`, which `npm test`
 * runs first) as a user would, and collects its output.
 */
export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** Sends SIGINT (Ctrl-C) once the command's stderr matches this. */
  interruptWhen?: RegExp;
}

export function runCommand(command: string, args: string[], options: RunOptions = {}): Promise<CliResult> {
  const script = join(REPO_ROOT, 'dist', `${command}.js`);
  if (!existsSync(script)) throw new Error(`${script} is missing: run "npm run build" first`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      env: { TAILOR_IMAGE_CACHE_DIR: TEST_CACHE_DIR, ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    let interrupted = false;
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      if (options.interruptWhen && !interrupted && options.interruptWhen.test(stderr)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    const timer = options.timeoutMs
      ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs)
      : undefined;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

export function runCreateImage(args: string[], options: RunOptions = {}) {
  return runCommand('create_image', args, options);
}

/**
 * A failed run as a user must see it: exactly one line mentioning an error, in the form
 * `create_image: error: <what>` matching `says`, no stack trace, and `exit` as the code.
 */
export function expectOneLineFailure(result: CliResult, says: RegExp, exit: number): void {
  const errorLines = result.stderr.split('\n').filter((line) => /error/i.test(line));
  expect(errorLines).toHaveLength(1);
  expect(errorLines[0]).toMatch(/^create_image: error: /);
  expect(errorLines[0]).toMatch(says);
  expect(result.stderr).not.toMatch(/^\s+at /m);
  expect(result.code).toBe(exit);
}
