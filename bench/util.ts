import { execFile, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageSet } from '../lib/builder/build';
import { BuildRequest } from '../lib/builder/request';
import { bootstrapSpecOf } from '../lib/builder/bootstrap-spec';
import { mmdebstrapArguments } from '../lib/builder/mmdebstrap';
import { createImageCommand, CreateImageOptions } from '../lib/cli/create-image-options';
import { resolveRequest } from '../lib/cli/resolve-request';

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

/** What bench modules read from `create_image --json`. */
export interface ImageSummary {
  name: string;
  cache: string;
  peak_rss_mib: number;
  artifacts: { file: string; path: string; size: number }[];
  /** Seconds per stage. */
  timings?: Record<string, number>;
}

/** Runs create_image as a user does (the bundled command, --json --quiet): wall time and summary. */
export async function createImage(args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  const start = process.hrtime.bigint();
  const { stdout } = await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'dist', 'create_image.js'), ...args, '--json', '--quiet'], {
    cwd,
    env,
    maxBuffer: 16 << 20,
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { seconds, summary: JSON.parse(stdout) as ImageSummary | ImageSummary[] };
}

/** The summary of a run that built one image. */
export function only(summary: ImageSummary | ImageSummary[]): ImageSummary {
  if (Array.isArray(summary)) throw new Error(`expected one image, got ${summary.length}`);
  return summary;
}

/** Checks the bootstrap cache did what the measurement assumes (else the ratio means nothing). */
export function expectCache(what: string, summary: ImageSummary, outcome: string): void {
  if (summary.cache !== outcome) throw new Error(`${what}: bootstrap cache ${summary.cache}, expected ${outcome}`);
}

/** The request create_image makes of these flags, and the packages it bootstraps. */
export function planOf(args: string[]): { request: BuildRequest; packages: string[] } {
  const command = createImageCommand('bench');
  command.parse(args, { from: 'user' });
  const request = resolveRequest(command.opts<CreateImageOptions>());
  return { request, packages: packageSet(request) };
}

/** The floor's first step: mmdebstrap of the same package set into <work>/floor/rootfs. */
export async function floorBootstrap(work: string, request: BuildRequest, packages: string[]): Promise<{ rootfs: string; seconds: number }> {
  const rootfs = join(work, 'floor', 'rootfs');
  mkdirSync(join(work, 'floor'), { recursive: true });
  const seconds = await timeCommand('mmdebstrap', mmdebstrapArguments(bootstrapSpecOf(request, packages), rootfs));
  return { rootfs, seconds };
}

/** A cold build (an empty bootstrap cache, which it fills), then a warm rebuild of the same. */
export async function coldThenWarm(what: string, args: string[], work: string, env: NodeJS.ProcessEnv = process.env, warmArgs: string[] = []) {
  const cacheArgs = ['--cache-dir', join(work, 'cache'), '--work-dir', join(work, 'builder')];
  const cold = await createImage([...args, ...cacheArgs, '--timestamp', '20261126.000001'], work, env);
  const warm = await createImage([...args, ...warmArgs, ...cacheArgs, '--timestamp', '20261126.000002'], work, env);
  expectCache(`${what} cold build`, only(cold.summary), 'miss');
  expectCache(`${what} warm rebuild`, only(warm.summary), 'hit');
  return { cold: { seconds: cold.seconds, summary: only(cold.summary) }, warm: { seconds: warm.seconds, summary: only(warm.summary) }, cacheArgs };
}
