import { BuildError, InterruptedError } from '../../core/errors';
import { Artifact, CheckResult, ImageTestReport } from '../../core/image';
import { BuildPlan } from '../context';
import { containerArchitectureProblem } from './architecture-rule';
import { checksFor } from './checks';
import { Guest, TestRuntime, lastLines } from './guest';
import { lxdRuntime } from './lxd';
import { podmanRuntime } from './podman';
import { podmanBootRuntime } from './podman-boot';
import { qemuRuntime } from './qemu';

export { checksFor } from './checks';
export type { TestRuntime } from './guest';

/**
 * The runtimes each build type is tested in, in order of preference (the first this host
 * can run is used). Disks (bare_metal, and ami once the builder makes it) boot under QEMU.
 */
export const TEST_RUNTIMES: Readonly<Record<string, readonly TestRuntime[] | undefined>> = {
  // Where no LXD daemon can run (a CodeBuild container), podman boots the rootfs with systemd.
  lxd: [lxdRuntime, podmanBootRuntime],
  docker: [podmanRuntime],
  bare_metal: [qemuRuntime],
  ami: [qemuRuntime],
};

/** The runtime this host can test the plan's image in, or why none. */
export async function pickRuntime(plan: Pick<BuildPlan, 'request'>): Promise<{ runtime?: TestRuntime; reason?: string }> {
  const { recipe } = plan.request;
  const candidates = TEST_RUNTIMES[recipe.build_type] ?? [];
  if (candidates.length === 0) return { reason: `no test runtime for ${recipe.build_type} images` };
  const reasons: string[] = [];
  for (const runtime of candidates) {
    const reason = containerArchitectureProblem(runtime.name, plan.request.architecture) ?? (await runtime.unavailable(recipe.boot.firmware, plan.request.architecture));
    if (reason === undefined) return { runtime };
    reasons.push(`${runtime.name}: ${reason}`);
  }
  return { reason: reasons.join('; ') };
}

/** A check that failed: its name, status and the last lines it printed. */
export class CheckFailedError extends BuildError {
  constructor(readonly check: string, status: number, readonly tail: string[], runtime: string) {
    const how = status === 124 ? 'timed out' : `exit ${status}`;
    super(`test ${check} failed in ${runtime} (${how}); nothing was stored${tail.length ? `: ${tail[tail.length - 1]}` : ''}`, tail.join('\n'));
  }
}

/**
 * Starts the image in `runtime`, runs every check in order and stops it, whatever happens.
 * The first failing check ends the run: its name and its output's last lines are logged
 * and a CheckFailedError thrown. The stored file is never written (see each runtime).
 */
export async function runImageTests(
  plan: Pick<BuildPlan, 'request' | 'log' | 'signal'>,
  runtime: TestRuntime,
  artifact: Artifact,
  scratchDir: string,
): Promise<ImageTestReport> {
  const { request, log, signal } = plan;
  const started = Date.now();
  const guest: Guest = await runtime.start({
    artifact: artifact.path,
    scratchDir,
    imageName: request.imageName,
    firmware: request.recipe.boot.firmware,
    architecture: request.architecture,
    log,
    signal,
  });
  const results: CheckResult[] = [];
  try {
    if (!runtime.boots) log.info(`test: ${request.recipe.build_type} images have no init: the init check does not apply`);
    for (const check of checksFor(plan, { boots: runtime.boots, expectedHostname: guest.hostname })) {
      if (signal.aborted) throw new InterruptedError(String(signal.reason ?? 'abort'));
      const start = Date.now();
      const result = await guest.exec(check.command, check.timeoutSeconds);
      const seconds = (Date.now() - start) / 1000;
      results.push({ name: check.name, kind: check.kind, passed: result.status === 0, seconds: round(seconds) });
      if (result.status !== 0) {
        const tail = lastLines(result.output);
        log.warn(`test ${check.name} (${check.kind}) FAILED after ${seconds.toFixed(1)} s; its last lines:`);
        for (const line of tail) log.warn(`  | ${line}`);
        throw new CheckFailedError(check.name, result.status, tail, runtime.name);
      }
      log.info(`test ${check.name} passed (${seconds.toFixed(1)} s)`);
    }
  } finally {
    await guest.stop();
  }
  return { runtime: runtime.name, checks: results, seconds: round((Date.now() - started) / 1000) };
}

const round = (seconds: number) => Math.round(seconds * 10) / 10;
