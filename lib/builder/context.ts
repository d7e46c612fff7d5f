import { join } from 'node:path';
import { Artifact, ImageTestReport } from '../core/image';
import type { TestRuntime } from './image-tests/guest';
import { BuildLog } from '../core/log';
import { SharedBase } from './base-rootfs';
import { CacheOutcome } from './bootstrap-cache';
import { MountedChroot } from './chroot';
import { CleanupStack } from './cleanup';
import { Packer, PackedFile, RootfsLayers } from './packers/packer';
import { BuildRequest } from './request';
import { ResolvedPassword } from './secrets';

/** One image's build as planned, before anything is done: what every stage's verify() sees. */
export interface BuildPlan {
  request: BuildRequest;
  packer: Packer;
  log: BuildLog;
  signal: AbortSignal;
  /** Every package the rootfs gets at bootstrap (recipe + template + packer needs). */
  packages: string[];
  /** The bootstrapped tree this build's rootfs is an overlay on (shared within a run). */
  base: SharedBase;
  /** What the test gate will do, decided by its verification: the runtime, or why not. */
  testing?: { runtime?: TestRuntime; off?: string };
  /** The user's password, read by verification; never logged or written in clear. */
  password?: ResolvedPassword;
}

/** The places inside a build's private work directory. */
export interface WorkPaths {
  workDir: string;
  /** The image's root filesystem (an overlay on the base, mounted by bootstrap). */
  rootfs: string;
  /** The artifacts, moved into the store only when all are whole. */
  stagingDir: string;
  /** A packer's scratch space. */
  scratchDir: string;
  /** `<staging>/<image_name>.manifest`, written by finalize. */
  manifestPath: string;
  /** `<staging>/<image_name>.spdx.json` and `.cdx.json`, written by sbom. */
  spdxPath: string;
  cyclonedxPath: string;
}

export function workPathsOf(workDir: string, imageName: string): WorkPaths {
  const stagingDir = join(workDir, 'staging');
  return {
    workDir,
    rootfs: join(workDir, 'rootfs'),
    stagingDir,
    scratchDir: join(workDir, 'scratch'),
    manifestPath: join(stagingDir, `${imageName}.manifest`),
    spdxPath: join(stagingDir, `${imageName}.spdx.json`),
    cyclonedxPath: join(stagingDir, `${imageName}.cdx.json`),
  };
}

/** A build under way: the plan, its work paths and cleanups, and what the stages have made so far. */
export interface BuildContext extends BuildPlan, WorkPaths {
  cleanups: CleanupStack;
  /** Where the rootfs's layers are, when it is an overlay (set by bootstrap). */
  layers?: RootfsLayers;
  /** What the bootstrap cache did for this build (set by bootstrap). */
  cacheOutcome?: CacheOutcome;
  /** The rootfs mounted for chroot (from provision until finalize). */
  chroot?: MountedChroot;
  /** What pack wrote; then the same with checksums. */
  packed: PackedFile[];
  artifacts: Artifact[];
  /** The test gate's results (set by test, when it ran). */
  testReport?: ImageTestReport;
}

/** One named step of the build: checked before anything runs, then run in order. */
export interface Stage {
  readonly name: string;
  /** A few words shown beside the stage name. */
  describe(plan: BuildPlan): string;
  verify(plan: BuildPlan): Promise<void> | void;
  run(ctx: BuildContext): Promise<void>;
}
