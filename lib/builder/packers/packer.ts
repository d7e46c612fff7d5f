import { BuildType, Recipe } from '../../recipes/schema';
import { CleanupStack } from '../cleanup';
import { Distribution } from '../../core/distributions';
import { HostTool } from '../../core/host-tools';
import { BuildLog } from '../../core/log';
import { RunResult } from '../../core/exec';
import { BuildRequest } from '../request';

/** Runs commands inside the rootfs with /proc, /sys and /dev/pts mounted. */
export interface ChrootRunner {
  readonly root: string;
  run(
    args: readonly string[],
    options?: { input?: string; env?: Record<string, string>; describe?: string; capture?: boolean },
  ): Promise<RunResult>;
}

/** What a packer gets: a finished rootfs, read-only to it, and a staging dir to write to. */
export interface PackInput {
  /** The build's request (its recipe and distribution included). */
  request: BuildRequest;
  /** The provisioned and finalized root filesystem (a directory). Do not modify it. */
  rootfs: string;
  /** Write the artifacts here; they are moved into the store only when all are whole. */
  stagingDir: string;
  /** A scratch directory private to this packer, removed after the build. */
  scratchDir: string;
  log: BuildLog;
  signal: AbortSignal;
  cleanups: CleanupStack;
  /** Present in prepareRootfs() only: the rootfs is mounted for chroot then. */
  chroot?: ChrootRunner;
}

/** A file the packer wrote, before checksums. */
export interface PackedFile {
  path: string;
  role: 'image' | 'extra';
}

/**
 * Turns a rootfs into one build type's artifact. Packers are registered by build type
 * (packers/index.ts); the rootfs is built once and packers only convert it.
 */
export interface Packer {
  readonly buildType: BuildType;
  /** The image file's extension, e.g. "tar.gz", "raw.xz". */
  readonly extension: string;
  /** The key used in the tailor index for this build type. */
  readonly indexKey: string;
  /** Host programs pack() runs, checked before the build starts. */
  hostTools(recipe: Recipe): HostTool[];
  /** Packages the rootfs must contain for this build type (kernel, bootloader...). */
  rootfsPackages(recipe: Recipe, distribution: Distribution): string[];
  /** Checks the recipe and request before any work (e.g. disk_size sanity). Throws UsageError/BuildError. */
  verify(request: BuildRequest): void | Promise<void>;
  /** Called once the rootfs is provisioned, before finalize: install boot config etc. in the rootfs. */
  prepareRootfs?(input: PackInput): Promise<void>;
  pack(input: PackInput): Promise<PackedFile[]>;
}
