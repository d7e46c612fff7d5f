import { BuildType, Recipe } from '../../recipes/schema';
import { CleanupStack } from '../cleanup';
import { Distribution } from '../../core/distributions';
import { Architecture } from '../../core/architecture';
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

/**
 * Where a rootfs's files come from when it is an overlay on a shared base: packers that
 * can keep the base apart (container layers) use these; the others read `rootfs` alone.
 */
export interface RootfsLayers {
  /** The bootstrapped base tree (read-only; never finalized itself). */
  baseTree: string;
  /** A path prefix where what is derived from the base may be kept (beside its cache entry). */
  baseCache: string;
  /** The overlay's upper directory: this build's changes, with overlay whiteouts. */
  upper: string;
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
  /** Present when the rootfs is an overlay on a shared base (absent on the copy path). */
  layers?: RootfsLayers;
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
  /** Packages the rootfs must contain for this build type and architecture (kernel, bootloader...). */
  rootfsPackages(recipe: Recipe, distribution: Distribution, architecture: Architecture): string[];
  /** Checks the recipe and request before any work (e.g. disk_size sanity). Throws UsageError/BuildError. */
  verify(request: BuildRequest): void | Promise<void>;
  /** Called once the rootfs is provisioned, before finalize: install boot config etc. in the rootfs. */
  prepareRootfs?(input: PackInput): Promise<void>;
  pack(input: PackInput): Promise<PackedFile[]>;
}
