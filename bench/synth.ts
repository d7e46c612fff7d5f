import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeCatalog } from '../test/unit/constructs-helpers';
import { BenchRow } from './types';
import { REPO_ROOT, ratioRow, timeCommand } from './util';

const RUNS = 3;
const BUILD_TYPES = ['lxd', 'bare_metal', 'docker'] as const;

/**
 * Synth time of an ImageFactory with 10 recipes x 3 distributions (a generated catalog),
 * each synth a fresh process as `cdk synth` runs the app (TypeScript loaded by tsx,
 * cdk-nag plugin and CloudFormation validation on, the builder bundled by esbuild),
 * against the synth of an empty app with the same CDK and plugins. Medians of RUNS.
 */
export async function benchSynth(): Promise<BenchRow[]> {
  const catalog = writeCatalog(Array.from({ length: 10 }, (_, i) => ({
    name: `image${i}`,
    build_type: BUILD_TYPES[i % 3],
    os_versions: ['jammy', 'noble', 'bookworm'],
    ansible: i % 2 === 0,
  })));
  const work = mkdtempSync(join(tmpdir(), 'bench-synth-'));
  try {
    let run = 0;
    const synth = (mode: 'empty' | 'factory') => timeCommand(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'bench', 'synth-app.ts'), mode, join(work, `out-${run++}`), catalog],
      { cwd: REPO_ROOT, env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } },
    );
    const factory: number[] = [];
    const empty: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      empty.push(await synth('empty'));
      factory.push(await synth('factory'));
    }
    return [
      ratioRow('cdk synth, 10 recipes x 3 distributions', median(factory), median(empty), 's',
        `baseline: synth of an empty app, same CDK + cdk-nag, fresh process each; median of ${RUNS}`),
    ];
  } finally {
    rmSync(catalog, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
