// The scoreboard: `npm run bench [-- <module>...]` runs the bench modules, prints one
// table and writes the rows to .bench/results.json. Every figure is a ratio against a
// baseline measured in the same run.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BenchModule, BenchRow } from './types';
import { REPO_ROOT } from './util';

/** Bench modules by name: file in bench/ and the function it exports. */
const MODULES: Record<string, [file: string, exportName: string]> = {
  lxd: ['lxd', 'benchLxd'],
  docker: ['docker', 'benchDocker'],
  together: ['together', 'benchTogether'],
  'bare-metal': ['bare-metal', 'benchBareMetal'],
  oci: ['oci', 'benchOci'],
  upload: ['upload', 'benchUpload'],
  synth: ['synth', 'benchSynth'],
  ami: ['ami', 'benchAmi'],
  'test-gate': ['test-gate', 'benchTestGate'],
  arm64: ['arm64', 'benchArm64'],
};

/**
 * Named sets of modules. `ci`: everything but bare metal (whose xz of a disk image, three
 * times over, and whose peer build take most of 20 minutes), test-gate (a disk boot under
 * TCG), arm64 (an emulated cold build and two disk boots under TCG) and together (four cold
 * builds, for a target long met); CI runs it after the tests.
 */
const SUBSETS: Record<string, string[]> = {
  ci: ['lxd', 'docker', 'oci', 'upload', 'synth', 'ami'],
};

async function main(): Promise<number> {
  // As the commands do: no multi-line AWS SDK notice about Node 20 in the table's output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const wanted = process.argv.slice(2).flatMap((name) => SUBSETS[name] ?? [name]);
  const unknown = wanted.filter((name) => !(name in MODULES));
  if (unknown.length) {
    const known = [...Object.keys(MODULES), ...Object.keys(SUBSETS).map((name) => `${name} (${SUBSETS[name].join(' ')})`)];
    process.stderr.write(`bench: unknown module ${unknown.join(', ')} (known: ${known.join(', ')})\n`);
    return 2;
  }
  const names = wanted.length ? wanted : Object.keys(MODULES).filter((name) => existsSync(join(__dirname, `${MODULES[name][0]}.ts`)));
  const rows: BenchRow[] = [];
  const failures: string[] = [];
  for (const name of names) {
    const [file, exportName] = MODULES[name];
    process.stderr.write(`bench: running ${name}...\n`);
    try {
      const module = (await import(`./${file}`)) as Record<string, BenchModule>;
      rows.push(...(await module[exportName]()));
    } catch (error) {
      failures.push(`${name}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  printTable(rows);
  for (const failure of failures) process.stderr.write(`bench: FAILED ${failure}\n`);
  mkdirSync(join(REPO_ROOT, '.bench'), { recursive: true });
  const results = { date: new Date().toISOString(), host: { cpus: require('node:os').cpus().length }, rows, failures };
  writeFileSync(join(REPO_ROOT, '.bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.stderr.write(`bench: results written to .bench/results.json\n`);
  return failures.length ? 1 : 0;
}

function printTable(rows: BenchRow[]): void {
  const header = ['measure', 'value', 'baseline', 'ratio', 'note'];
  const body = rows.map((r) => [r.name, `${r.value} ${r.unit}`, `${r.baseline} ${r.unit}`, `${r.ratio.toFixed(3)}x`, r.note ?? '']);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  process.stdout.write(`${line(header)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n${body.map(line).join('\n')}\n`);
}

main().then((code) => (process.exitCode = code));
