import { mkdir, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildError, InterruptedError } from '../core/errors';
import { BuiltImage } from '../core/image';
import { CacheOutcome } from './bootstrap-cache';
import { CleanupStack } from './cleanup';
import { baseGroupKey, commonPackages, SharedBase } from './base-rootfs';
import { BuildContext, Stage } from './context';
import { BuildLog } from '../core/log';
import { packerFor } from './packers';
import { BuildRequest } from './request';
import { bootstrapStage } from './stages/bootstrap';
import { finalizeStage } from './stages/finalize';
import { checksumStage, packStage } from './stages/pack';
import { removeWorkDir } from './workdir';
import { provisionStage } from './stages/provision';

/** The build, as one readable list of named steps. */
export const STAGES: readonly Stage[] = [bootstrapStage, provisionStage, finalizeStage, packStage, checksumStage];

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
}

/** The packages the rootfs is bootstrapped with: template + recipe + what the steps need. */
export function packageSet(request: BuildRequest): string[] {
  const { recipe } = request;
  const packer = packerFor(recipe.build_type);
  const packages = [...recipe.packages, ...packer.rootfsPackages(recipe, request.distribution)];
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
  const contexts = requests.map((request, i) => newContext(request, bases[i], log, signal));

  log.stageStart('verify', `plan (${requests.length} image${requests.length > 1 ? 's' : ''}), host tools, mirrors, store`);
  const verifyStart = Date.now();
  try {
    for (const check of options.preflight ?? []) await check.verify();
    for (const ctx of contexts) for (const stage of STAGES) await stage.verify(ctx);
  } catch (error) {
    log.stageEnd('verify', false);
    throw error;
  }
  const verifySeconds = (Date.now() - verifyStart) / 1000;
  log.stageEnd('verify', true);

  const outcomes: BuildOutcome[] = [];
  try {
    for (const ctx of contexts) {
      if (contexts.length > 1) log.info(`image ${outcomes.length + 1} of ${contexts.length}: ${ctx.request.imageName} (${ctx.recipe.build_type})`);
      outcomes.push(await buildOne(ctx, { verify: verifySeconds }, options));
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

function newContext(request: BuildRequest, base: SharedBase, log: BuildLog, signal: AbortSignal): BuildContext {
  return {
    request,
    recipe: request.recipe,
    distribution: request.distribution,
    packer: packerFor(request.recipe.build_type),
    log,
    signal,
    cleanups: new CleanupStack(),
    base,
    workDir: '',
    rootfs: '',
    stagingDir: '',
    scratchDir: '',
    packages: packageSet(request),
    packed: [],
    artifacts: [],
  };
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
    bases.set(key, new SharedBase(commonPackages(group.map(packageSet)), runCleanups));
  }
  return requests.map((request) => bases.get(baseGroupKey(request))!);
}

async function buildOne(ctx: BuildContext, timings: StageTimings, options: BuildOptions): Promise<BuildOutcome> {
  const { request, log, signal, cleanups } = ctx;
  try {
    await mkdir(request.workRoot, { recursive: true });
    ctx.workDir = await mkdtemp(join(request.workRoot, `${request.name}-${request.distribution.codename}-`));
  } catch (error) {
    throw new BuildError(`cannot create a work directory in ${request.workRoot}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  if (!request.keepWorkDir) {
    cleanups.push(`remove ${ctx.workDir}`, () => removeWorkDir(ctx.workDir, log));
  } else {
    cleanups.push('keep work dir', () => log.info(`work directory kept: ${ctx.workDir}`));
  }
  ctx.rootfs = join(ctx.workDir, 'rootfs');
  ctx.stagingDir = join(ctx.workDir, 'staging');
  ctx.scratchDir = join(ctx.workDir, 'scratch');
  await mkdir(ctx.stagingDir);
  await mkdir(ctx.scratchDir);

  try {
    for (const stage of STAGES) {
      if (signal.aborted) throw new InterruptedError(String(signal.reason));
      await timed(stage.name, stage.describe(ctx), timings, log, () => stage.run(ctx));
    }
    const image = builtImage(ctx);
    if (options.deliver) await timed('store', undefined, timings, log, () => options.deliver!(image));
    return { image, timings, cache: ctx.cacheOutcome ?? 'off' };
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
    name: request.name,
    distribution: request.distribution.codename,
    organization: request.organization,
    releaseLabel: request.releaseLabel,
    timestamp: request.timestamp,
    buildType: ctx.recipe.build_type,
    indexKey: ctx.packer.indexKey,
    artifacts: ctx.artifacts,
    manifestPath: ctx.manifestPath!,
  };
}
