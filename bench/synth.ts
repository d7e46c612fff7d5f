import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConsumerApp, packCleanCheckout, toolEnv } from '../test/support/consumer-app';
import { writeCatalog } from '../test/unit/constructs-helpers';
import { BenchRow } from './types';
import { ratioRow, timeCommand } from './util';

const RUNS = 5;
const BUILD_TYPES = ['lxd', 'bare_metal', 'docker'] as const;

/**
 * Synth time of an ImageFactory with 10 recipes x 3 distributions (a generated catalog) as a
 * platform team's app meets it: `npm pack` of a clean checkout installed into a fresh CDK
 * app (test/support/consumer-app.ts, as the consumer test does), each synth a fresh `node`
 * process of plain JavaScript (cdk-nag plugin and CloudFormation validation on, the
 * package's prebuilt builder copied into the asset), against the synth of an empty app in
 * the same install with the same CDK and plugins. Packing and installing are not timed.
 * Medians of RUNS. The note also gives both with aws-cdk-lib's CloudFormation validation
 * (a WebAssembly engine, on by default) switched off, the factory's own share.
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
    const app = createConsumerApp(work, packCleanCheckout(work), 'bench-app');
    copyFileSync(join(__dirname, 'synth-app.cjs'), join(app.dir, 'synth-app.cjs'));
    let run = 0;
    const synth = (mode: 'empty' | 'factory', env: NodeJS.ProcessEnv = {}) => timeCommand(
      process.execPath,
      [join(app.dir, 'synth-app.cjs'), mode, join(work, `out-${run++}`), catalog],
      { cwd: app.dir, env: toolEnv(env) },
    );
    // The same pair without aws-cdk-lib's own CloudFormation validation (on by default),
    // to show in the note how much of the difference is the factory's own synth.
    const off = { CDK_VALIDATION: 'false' };
    const times = { factory: [] as number[], empty: [] as number[], factoryOff: [] as number[], emptyOff: [] as number[] };
    for (let i = 0; i < RUNS; i++) {
      times.empty.push(await synth('empty'));
      times.factory.push(await synth('factory'));
      times.emptyOff.push(await synth('empty', off));
      times.factoryOff.push(await synth('factory', off));
    }
    const s = (values: number[]) => `${median(values).toFixed(2)} s`;
    return [
      ratioRow('cdk synth, 10 recipes x 3 distributions, installed package', median(times.factory), median(times.empty), 's',
        `baseline: synth of an empty app, same install, CDK + cdk-nag, fresh node process each; median of ${RUNS}; `
        + `with CDK's CloudFormation validation off: ${s(times.factoryOff)} vs ${s(times.emptyOff)}; target <= 1.5`),
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
