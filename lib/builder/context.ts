import { Recipe } from '../recipes/schema';
import { SharedBase } from './base-rootfs';
import { Artifact } from '../core/image';
import { CacheOutcome } from './bootstrap-cache';
import { CleanupStack } from './cleanup';
import { Distribution } from '../core/distributions';
import { BuildLog } from '../core/log';
import { MountedChroot } from './chroot';
import { Packer, PackedFile } from './packers/packer';
import { BuildRequest } from './request';
import { ResolvedPassword } from './secrets';

/** The state a build's stages share, filled in as they run. */
export interface BuildContext {
  request: BuildRequest;
  recipe: Recipe;
  distribution: Distribution;
  packer: Packer;
  log: BuildLog;
  signal: AbortSignal;
  cleanups: CleanupStack;
  /** This build's private work directory and the places inside it. */
  workDir: string;
  rootfs: string;
  stagingDir: string;
  scratchDir: string;
  /** Every package the rootfs gets at bootstrap (recipe + template + packer needs). */
  packages: string[];
  /** The bootstrapped tree this build's rootfs is an overlay on (shared within a run). */
  base: SharedBase;
  /** What the bootstrap cache did for this build. */
  cacheOutcome?: CacheOutcome;
  /** The user's password, read during verification; never logged or written in clear. */
  password?: ResolvedPassword;
  chroot?: MountedChroot;
  packed: PackedFile[];
  artifacts: Artifact[];
  manifestPath?: string;
}

/** One named step of the build: checked before anything runs, then run in order. */
export interface Stage {
  readonly name: string;
  /** A few words shown beside the stage name. */
  describe(ctx: BuildContext): string;
  verify(ctx: BuildContext): Promise<void> | void;
  run(ctx: BuildContext): Promise<void>;
}
