import { BuildOutcome } from '../builder/build';
import { BuildRequest } from '../builder/request';
import { StoredImage } from '../storage/store';
import { ImageTestReport } from '../core/image';

/** The machine-readable result of one build (`--json`). */
export interface BuildSummary {
  image_name: string;
  name: string;
  distribution: string;
  /** The CPU architecture (Debian's name: amd64, arm64). */
  architecture: string;
  build_type: string;
  release_label: string;
  timestamp: string;
  storage: string;
  artifacts: { file: string; path: string; size: number; md5: string; sha256: string }[];
  index?: string;
  reference?: string;
  timings: Record<string, number>;
  /** The test gate's results (runtime, each check with its time), when the image was tested. */
  tests?: ImageTestReport;
  /** What the bootstrap cache did: hit, miss, stale, damaged (rebuilt) or off. */
  cache: string;
  /** The build time the image's files and records carry (SOURCE_DATE_EPOCH, from the timestamp). */
  source_date_epoch: number;
  /** What could not be made reproducible in this build; empty when two cold builds give the same bytes. */
  not_reproducible: string[];
  total_seconds: number;
  /** The builder process's own peak resident memory (tools it runs are separate processes). */
  peak_rss_mib: number;
}

export function buildSummary(request: BuildRequest, outcome: BuildOutcome, stored: StoredImage, totalSeconds: number): BuildSummary {
  return {
    image_name: request.imageName,
    name: request.name,
    distribution: request.distribution.codename,
    architecture: request.architecture,
    build_type: request.recipe.build_type,
    release_label: request.releaseLabel,
    timestamp: request.timestamp,
    storage: stored.mode,
    artifacts: stored.files.map((file) => ({
      file: file.fileName,
      path: file.location,
      size: file.size,
      md5: file.md5,
      sha256: file.sha256,
    })),
    ...(stored.index ? { index: stored.index } : {}),
    ...(stored.reference ?? outcome.image.reference ? { reference: stored.reference ?? outcome.image.reference } : {}),
    timings: outcome.timings,
    ...(outcome.image.tests ? { tests: outcome.image.tests } : {}),
    cache: outcome.cache,
    source_date_epoch: outcome.sourceDateEpoch,
    not_reproducible: outcome.unreproducible,
    total_seconds: Math.round(totalSeconds * 10) / 10,
    peak_rss_mib: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}

/** `--json`: one summary object, or an array of them when the run built several images. */
export function printSummaries(summaries: BuildSummary[], options: { json: boolean; quiet: boolean }): void {
  if (options.json) {
    const value = summaries.length === 1 ? summaries[0] : summaries;
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    return;
  }
  for (const summary of summaries) printSummary(summary, options.quiet);
}

function printSummary(summary: BuildSummary, quiet: boolean): void {
  const lines = [`built ${summary.image_name} (${summary.build_type}${summary.architecture !== 'amd64' ? `, ${summary.architecture}` : ''}) in ${summary.total_seconds.toFixed(1)} s`];
  for (const artifact of summary.artifacts) {
    lines.push(`  ${artifact.path}  ${formatSize(artifact.size)}`);
    if (!quiet) {
      lines.push(`    md5     ${artifact.md5}`);
      lines.push(`    sha256  ${artifact.sha256}`);
    }
  }
  if (summary.tests) lines.push(`  tested  ${summary.tests.checks.length} checks passed in ${summary.tests.runtime} (${summary.tests.seconds.toFixed(1)} s)`);
  if (summary.index) lines.push(`  index   ${summary.index}`);
  if (summary.reference) lines.push(`  pushed  ${summary.reference}`);
  if (summary.not_reproducible.length > 0) lines.push(`  not reproducible: ${summary.not_reproducible.join('; ')}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
