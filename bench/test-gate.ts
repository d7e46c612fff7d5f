import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchRow } from './types';
import { REPO_ROOT, createImage, ratioRow } from './util';

const CATALOG = join(REPO_ROOT, 'test', 'fixtures', 'catalog-gate');

interface TestedSummary {
  name: string;
  build_type: string;
  timings: Record<string, number>;
  tests?: { runtime: string; seconds: number };
}

/**
 * The test gate against the build's own time, a row per build type: one create_image run
 * of the gate catalog's tiny lxd, docker and bare_metal recipes (one shared bootstrap,
 * --test), each image's `test` stage against the sum of its other stages. Not in the `ci`
 * set: the disk's boot under TCG alone takes over a minute.
 */
export async function benchTestGate(): Promise<BenchRow[]> {
  const work = mkdtempSync(join(tmpdir(), 'bench-gate-'));
  try {
    const args = ['--recipes-path', CATALOG, '--name', 'gate-lxd', '--name', 'gate-docker', '--name', 'gate-disk', '--distribution', 'bookworm',
      '--build-only', '--test', '--cache-dir', join(work, 'cache'), '--work-dir', join(work, 'builder'), '--timestamp', '20261126.000001'];
    const { summary } = await createImage(args, work);
    const summaries = summary as unknown as TestedSummary[];
    return summaries.map((image) => {
      const test = image.timings.test ?? 0;
      const build = Object.entries(image.timings).filter(([stage]) => stage !== 'test').reduce((sum, [, seconds]) => sum + seconds, 0);
      return ratioRow(`test gate, ${image.build_type} (${image.name}, in ${image.tests?.runtime ?? '?'})`, test, build, 's',
        'baseline: the build\'s own stages (verify to checksum, bootstrap shared by the three)');
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
