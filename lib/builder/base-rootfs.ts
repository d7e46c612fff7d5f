import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildLog } from '../core/log';
import { BootstrapCache, CacheOutcome, debCacheHooks } from './bootstrap-cache';
import { BootstrapSpec } from './bootstrap-spec';
import { CleanupStack } from './cleanup';
import { bootstrapKeyOf, runMmdebstrap } from './mmdebstrap';
import { BuildRequest } from './request';
import { clampTreeTimes } from './reproducible-tree';
import { sourceDateEpoch } from './source-date';
import { removeWorkDir } from './workdir';

/** A bootstrapped tree that builds lay their overlays on. Never written after it is made. */
export interface BaseTree {
  tree: string;
  /** The packages it was bootstrapped with. */
  packages: string[];
  /** What the bootstrap cache did for it (off with --no-cache). */
  cache: CacheOutcome;
  /** A path prefix for what is derived from the tree (a container layer of it): beside its cache entry, or in its own work dir. */
  derived: string;
}

/** Where a base is made and cached: the settings of the first request of its group (they agree, see baseGroupKey). */
export type BaseSettings = Pick<BuildRequest, 'noCache' | 'cacheDir' | 'cacheMaxAgeHours' | 'workRoot' | 'timestamp'>;

/**
 * The base shared by the builds of one run that bootstrap alike (same distribution,
 * mirrors and variant): made once, by the first of them to need it, from the packages
 * they all have in common; each build then installs only its own extra packages on top.
 * The base outlives each build; the run's cleanup stack saves it to the cache (or removes
 * it) once all of them are done.
 */
export class SharedBase {
  private made?: Promise<BaseTree>;

  constructor(
    readonly spec: BootstrapSpec,
    private readonly settings: BaseSettings,
    /** The whole run's cleanups (not one build's): the base is used by several builds. */
    private readonly runCleanups: CleanupStack,
  ) {}

  get packages(): string[] {
    return this.spec.packages;
  }

  obtain(log: BuildLog, signal: AbortSignal): Promise<BaseTree> {
    this.made ??= this.make(log, signal);
    return this.made;
  }

  private async make(log: BuildLog, signal: AbortSignal): Promise<BaseTree> {
    const { spec, settings } = this;
    const { packages } = spec;
    if (settings.noCache) {
      const dir = await mkdtemp(join(settings.workRoot, `base-${spec.distribution.codename}-`));
      this.runCleanups.push(`remove ${dir}`, () => removeWorkDir(dir, log));
      const tree = join(dir, 'rootfs');
      await bootstrapReproducibly(spec, tree, [], settings, log, signal);
      return { tree, packages, cache: 'off', derived: join(dir, 'base') };
    }
    const cache = new BootstrapCache(settings.cacheDir, settings.cacheMaxAgeHours, log, signal);
    const { key, input } = await bootstrapKeyOf(spec, log);
    const found = await cache.lookup(key);
    if (found.outcome === 'hit') {
      log.info(`bootstrap: cache hit (${key.slice(0, 12)})`);
      if (found.private) this.runCleanups.push(`remove ${found.tree}`, () => removeWorkDir(found.tree, log));
      return { tree: found.tree, packages, cache: 'hit', derived: cache.derivedPrefix(key) };
    }
    const scratch = await cache.scratchTree(key);
    this.runCleanups.push(`remove ${scratch}`, async () => {
      if (existsSync(scratch)) await removeWorkDir(scratch, log);
    });
    await bootstrapReproducibly(spec, scratch, debCacheHooks(debDirOf(settings.cacheDir)), settings, log, signal);
    // The entry is packed while the builds go on; it is put in place once they are done
    // (pushed after the scratch tree's removal, so it runs first).
    const saving = cache.beginSave(key, scratch, input);
    this.runCleanups.push(`save bootstrap cache entry ${key.slice(0, 12)}`, async () => {
      await saving.finish();
    });
    return { tree: scratch, packages, cache: found.outcome, derived: cache.derivedPrefix(key) };
  }
}

/**
 * mmdebstrap with SOURCE_DATE_EPOCH, then every entry the bootstrap itself wrote (dpkg's
 * database, maintainer scripts' files, directories) given that time: files from packages
 * keep theirs. The base tree then carries no clock time, so two cold builds with one
 * --timestamp give the same tree, and its container base layer (clamped to the dpkg status
 * time, lib/builder/packers/oci/base-layer.ts) the same blob.
 */
async function bootstrapReproducibly(
  spec: BootstrapSpec,
  tree: string,
  hooks: string[],
  settings: BaseSettings,
  log: BuildLog,
  signal: AbortSignal,
): Promise<void> {
  const epoch = sourceDateEpoch(settings);
  const started = Math.floor(Date.now() / 1000) - 1;
  await runMmdebstrap(spec, tree, hooks, { log, signal, sourceDateEpoch: epoch });
  const changed = clampTreeTimes(tree, epoch, started);
  log.debug(`bootstrap: ${changed} entries set to SOURCE_DATE_EPOCH ${epoch}`);
}

/** Where downloaded .deb files are shared between builds (in the bootstrap cache's folder). */
export function debDirOf(cacheDir: string): string {
  return join(cacheDir, 'debs');
}

/** Builds bootstrap together when these match; the key says what they share. */
export function baseGroupKey(request: BuildRequest): string {
  return JSON.stringify([
    request.distribution.codename,
    request.architecture,
    request.recipe.variant,
    request.recipe.minimise,
    request.mirror ?? '',
    request.securityMirror ?? '',
    request.noCache,
    request.cacheDir,
  ]);
}

/** The packages every one of the sets has (the shared base of several builds). */
export function commonPackages(sets: string[][]): string[] {
  const [first, ...rest] = sets;
  return first.filter((pkg) => rest.every((set) => set.includes(pkg))).sort();
}
