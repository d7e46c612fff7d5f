import { mkdir, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildError, InterruptedError } from '../core/errors';
import { BuiltImage } from '../core/image';
import { CacheOutcome } from './bootstrap-cache';
import { CleanupStack } from './cleanup';
import { baseGroupKey, commonPackages, SharedBase } from './base-rootfs';
import { bootstrapSpecOf } from './bootstrap-spec';
import { BuildContext, BuildPlan, Stage, workPathsOf } from './context';
import { BuildLog } from '../core/log';
import { packerFor } from './packers';
import { BuildRequest } from './request';
import { bootstrapStage } from './stages/bootstrap';
import { finalizeStage } from './stages/finalize';
import { checksumStage, packStage } from './stages/pack';
import { sbomStage } from './stages/sbom';
import { removeWorkDir } from './workdir';
import { sourceDateEpoch, unreproducibleParts } from './source-date';
import { prepareStage } from './stages/prepare';
import { provisionStage } from './stages/provision';
import { testStage } from './stages/test';

/** The build, as one readable list of named steps. */
export const STAGES: readonly Stage[] = [bootstrapStage, provisionStage, prepareStage, finalizeStage, packStage, checksumStage, sbomStage, testStage];

/** How long each stage took, in seconds. */
export type StageTimings = Record<string, number>;

/** Runs before any stage: something that must also be checked first (e.g. the store). */
export interface PreflightCheck {
  name: string;
  verify(): Promise<void>;
}

export interface BuildOptions {
  log: BuildLog;
  signal: AbortSignal;
  /** Extra checks run with the stages' own (the store's verify). */
  preflight?: PreflightCheck[];
  /** Runs after checksum, while the staging dir still exists (the store's put). */
  deliver?: (image: BuiltImage) => Promise<void>;
}

export interface BuildOutcome {
  image: BuiltImage;
  timings: StageTimings;
  /** hit, miss, stale, damaged (rebuilt), or off (--no-cache). */
  cache: CacheOutcome;
  /** The build time every file and record in the image carries (from the timestamp). */
  sourceDateEpoch: number;
  /** What this build could not make reproducible (see unreproducibleParts); empty when nothing. */
  unreproducible: string[];
}

/** The packages the rootfs is bootstrapped with: template + recipe + what the steps need. */
export function packageSet(request: BuildRequest): string[] {
  const { recipe } = request;
  const packer = packerFor(recipe.build_type);
  const packages = [...recipe.packages, ...packer.rootfsPackages(recipe, request.distribution, request.architecture)];
  if (recipe.user && recipe.user.sudo !== 'none') packages.push('sudo');
  if (recipe.user) packages.push('passwd');
  if (recipe.ansible) packages.push('python3');
  if (request.installBundle && request.aptRepo?.startsWith('https:')) packages.push('ca-certificates');
  return [...new Set(packages)].sort();
}

/**
 * Builds several images in one run (`--name a --name b`): every stage of every image (and
 * the store) is verified before anything is done; images that bootstrap alike (same
 * distribution, mirrors and variant) stand on one base made once from the packages they
 * share. Images are built one after the other, each delivered as soon as it is whole; the
 * first failure stops the run. Whatever happens, the cleanups run: mounts come down and
 * the work directories go.
 */
export async function buildImages(requests: BuildRequest[], options: BuildOptions): Promise<BuildOutcome[]> {
  const { log, signal } = options;
  const runCleanups = new CleanupStack();
  const bases = sharedBases(requests, runCleanups);
  const plans = requests.map((request, i) => newPlan(request, bases[i], log, signal));

  log.stageStart('verify', `plan (${requests.length} image${requests.length > 1 ? 's' : ''}), host tools, mirrors, store`);
  const verifyStart = Date.now();
  try {
    for (const check of options.preflight ?? []) await check.verify();
    for (const plan of plans) for (const stage of STAGES) await stage.verify(plan);
  } catch (error) {
    log.stageEnd('verify', false);
    throw error;
  }
  const verifySeconds = (Date.now() - verifyStart) / 1000;
  log.stageEnd('verify', true);

  const outcomes: BuildOutcome[] = [];
  try {
    for (const plan of plans) {
      if (plans.length > 1) log.info(`image ${outcomes.length + 1} of ${plans.length}: ${plan.request.imageName} (${plan.request.recipe.build_type})`);
      outcomes.push(await buildOne(plan, { verify: verifySeconds }, options));
    }
    return outcomes;
  } finally {
    await runCleanups.runAll(log);
  }
}

/** One image: with its own work dir and cleanups, from bootstrap to store. */
export async function buildImage(request: BuildRequest, options: BuildOptions): Promise<BuildOutcome> {
  const [outcome] = await buildImages([request], options);
  return outcome;
}

function newPlan(request: BuildRequest, base: SharedBase, log: BuildLog, signal: AbortSignal): BuildPlan {
  return { request, packer: packerFor(request.recipe.build_type), log, signal, packages: packageSet(request), base };
}

/** The build's context, whole: its private work directory made (removed again by its cleanups unless kept). */
async function openContext(plan: BuildPlan): Promise<BuildContext> {
  const { request, log } = plan;
  let workDir: string;
  try {
    await mkdir(request.workRoot, { recursive: true });
    workDir = await mkdtemp(join(request.workRoot, `${request.name}-${request.distribution.codename}-`));
  } catch (error) {
    throw new BuildError(`cannot create a work directory in ${request.workRoot}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  const cleanups = new CleanupStack();
  if (!request.keepWorkDir) {
    cleanups.push(`remove ${workDir}`, () => removeWorkDir(workDir, log));
  } else {
    cleanups.push('keep work dir', () => log.info(`work directory kept: ${workDir}`));
  }
  const ctx: BuildContext = { ...plan, ...workPathsOf(workDir, request.imageName), cleanups, packed: [], artifacts: [] };
  try {
    await mkdir(ctx.stagingDir);
    await mkdir(ctx.scratchDir);
  } catch (error) {
    await cleanups.runAll(log);
    throw new BuildError(`cannot prepare the work directory ${workDir}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  return ctx;
}

/** Each request's base: one per group of requests that bootstrap alike, from the packages they share. */
function sharedBases(requests: BuildRequest[], runCleanups: CleanupStack): SharedBase[] {
  const groups = new Map<string, BuildRequest[]>();
  for (const request of requests) {
    const key = baseGroupKey(request);
    groups.set(key, [...(groups.get(key) ?? []), request]);
  }
  const bases = new Map<string, SharedBase>();
  for (const [key, group] of groups) {
    const spec = bootstrapSpecOf(group[0], commonPackages(group.map(packageSet)));
    bases.set(key, new SharedBase(spec, group[0], runCleanups));
  }
  return requests.map((request) => bases.get(baseGroupKey(request))!);
}

async function buildOne(plan: BuildPlan, timings: StageTimings, options: BuildOptions): Promise<BuildOutcome> {
  const ctx = await openContext(plan);
  const { log, signal, cleanups } = ctx;
  try {
    for (const stage of STAGES) {
      if (signal.aborted) throw new InterruptedError(String(signal.reason));
      await timed(stage.name, stage.describe(ctx), timings, log, () => stage.run(ctx));
    }
    const image = builtImage(ctx);
    if (options.deliver) await timed('store', undefined, timings, log, () => options.deliver!(image));
    const cache = ctx.cacheOutcome ?? 'off';
    const unreproducible = unreproducibleParts({ cache, passwordKind: ctx.password?.kind });
    return { image, timings, cache, sourceDateEpoch: sourceDateEpoch(ctx.request), unreproducible };
  } finally {
    await cleanups.runAll(log);
  }
}

async function timed(name: string, detail: string | undefined, timings: StageTimings, log: BuildLog, body: () => Promise<void>) {
  log.stageStart(name, detail);
  const start = Date.now();
  try {
    await body();
    log.stageEnd(name, true);
  } catch (error) {
    log.stageEnd(name, false);
    throw error;
  } finally {
    timings[name] = (Date.now() - start) / 1000;
  }
}

function builtImage(ctx: BuildContext): BuiltImage {
  const { request } = ctx;
  return {
    imageName: request.imageName,
    name: request.nameField,
    architecture: request.architecture,
    distribution: request.distribution.codename,
    organization: request.organization,
    releaseLabel: request.releaseLabel,
    timestamp: request.timestamp,
    buildType: request.recipe.build_type,
    indexKey: ctx.packer.indexKey,
    artifacts: ctx.artifacts,
    manifestPath: ctx.manifestPath,
    sbomPaths: { spdx: ctx.spdxPath, cyclonedx: ctx.cyclonedxPath },
    ...(ctx.testReport ? { tests: ctx.testReport } : {}),
  };
}
