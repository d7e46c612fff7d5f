import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BenchRow } from './types';
import { createImage, ratioRow } from './util';

/**
 * Two images of different build types asked for in one run (`--name webapp --name dev-env`:
 * lxd and docker, one bootstrap of the packages they share) against the same two built one
 * after the other, each bootstrapping on its own. All cold (--no-cache). Target: < 1.
 */
export async function benchTogether(): Promise<BenchRow[]> {
  const work = mkdtempSync('/var/tmp/bench-together-');
  try {
    const common = ['--distribution', 'bookworm', '--build-only', '--no-cache', '--work-dir', join(work, 'builder')];
    const webapp = await createImage(['--name', 'webapp', ...common, '--timestamp', '20261126.000001'], work);
    const devEnv = await createImage(['--name', 'dev-env', ...common, '--timestamp', '20261126.000001'], work);
    const together = await createImage(['--name', 'webapp', '--name', 'dev-env', ...common, '--timestamp', '20261126.000002'], work);
    const separate = webapp.seconds + devEnv.seconds;
    return [
      ratioRow('lxd + docker in one run (webapp + dev-env, cold)', together.seconds, separate, 's',
        `baseline: the two built apart, webapp ${webapp.seconds.toFixed(1)} s + dev-env ${devEnv.seconds.toFixed(1)} s; target < 1`),
    ];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
