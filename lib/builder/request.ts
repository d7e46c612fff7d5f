import { Recipe } from '../recipes/schema';
import { Architecture } from '../core/architecture';
import { Distribution } from '../core/distributions';

/**
 * Everything one build needs, validated and whole before any work starts. Made from the
 * CLI flags (or the CodeBuild environment) plus the catalog's common settings. Where the
 * image is stored is not the builder's business: the CLI hands the finished image to the
 * run's store (lib/storage).
 */
export interface BuildRequest {
  /** The recipe's name in the catalog (the `name` field of the image name). */
  name: string;
  recipe: Recipe;
  distribution: Distribution;
  /** The CPU architecture built for (--arch); amd64 by default. */
  architecture: Architecture;
  /** The name field of the image name: the recipe name, with `-<arch>` for a non-amd64 build (archNameField). */
  nameField: string;
  organization: string;
  releaseTrack: string;
  releaseLabel: string;
  flavour: string;
  /** YYYYMMDD.HHMMSS */
  timestamp: string;
  /** `{organization}_{name field}_{distribution}_{release_label}_{timestamp}` */
  imageName: string;
  /** The org APT repository holding the bundle (http(s):// or s3://), if any. */
  aptRepo?: string;
  /** Install the bundle from aptRepo (false with --no-bundle). */
  installBundle: boolean;
  /** Key that signs the org repository (a file path), when not in the recipe. */
  aptRepoKey?: string;
  dockerRegistry?: string;
  /** The archive to bootstrap from, when not the distribution's default. */
  mirror?: string;
  /** The security archive, "none" to leave it out. */
  securityMirror?: string;
  /** Parent of this build's private work directory. */
  workRoot: string;
  keepWorkDir: boolean;
  /** Skip the bootstrap cache (a cold build). */
  noCache: boolean;
  /** Where the bootstrap cache lives. */
  cacheDir: string;
  /** Cached rootfs older than this (hours) are rebuilt, to pick up archive updates. */
  cacheMaxAgeHours: number;
  /**
   * The test gate: `force` (--test: the runtime must be there), `auto` (run when this host
   * can run the image's runtime), `off` (with the reason said once). Absent: off.
   */
  test?: { mode: 'force' | 'auto' | 'off'; reason?: string };
  /** Folders beyond the recipe's catalog folder that files the recipe copies in may come from (--allow-source-dir). */
  allowedSourceDirs: string[];
}
