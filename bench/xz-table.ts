/**
 * The xz table of docs/BENCHMARKS.md: one wrangler disk (built once, cold, as a user
 * builds it), compressed with each xz setting in turn: time and size. Run on demand under
 * the heavy lock (it takes ~10 min), not in `npm run bench`:
 *
 *   npx tsx bench/xz-table.ts [<disk.raw> | <disk.raw.xz>]
 *
 * With no disk given it builds wrangler for bookworm first (--build-only, its own cache).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createImage, only, timeCommand } from './util';

/** The settings measured: presets of both xz modes (fast -0..-3, normal -4..-9) and block sizes for -T0. */
const SETTINGS: string[][] = [
  ['-0'], ['-1'], ['-2'], ['-3'], ['-6'],
  ['-1', '--block-size=16MiB'], ['-2', '--block-size=16MiB'], ['-2', '--block-size=64MiB'],
];

async function main(): Promise<void> {
  const work = mkdtempSync('/var/tmp/bench-xz-');
  try {
    let disk = process.argv[2];
    let buildNote = '';
    if (!disk) {
      const env = { ...process.env, WRANGLER_PASSWORD: randomBytes(12).toString('base64url') };
      const built = await createImage(
        ['--name', 'wrangler', '--distribution', 'bookworm', '--build-only', '--cache-dir', join(work, 'cache'),
          '--work-dir', join(work, 'builder'), '--timestamp', '20261202.000001'],
        work, env,
      );
      const image = only(built.summary).artifacts.find((a) => a.file.endsWith('.raw.xz'));
      if (!image) throw new Error('create_image made no .raw.xz');
      buildNote = `cold build ${built.seconds.toFixed(1)} s, .raw.xz ${(image.size / 2 ** 20).toFixed(1)} MiB`;
      disk = image.path;
    }
    if (disk.endsWith('.xz')) {
      const raw = join(work, 'disk.raw');
      execFileSync('sh', ['-c', 'xz -dc -T0 -- "$1" | cp --sparse=always /dev/stdin "$2"', 'sh', disk, raw]);
      disk = raw;
    }
    const rawBytes = statSync(disk).size;
    const used = Number(execFileSync('du', ['-B1', '--', disk], { encoding: 'utf8' }).split('\t')[0]);
    console.log(`disk: ${(rawBytes / 2 ** 30).toFixed(2)} GiB (${(used / 2 ** 20).toFixed(0)} MiB allocated)${buildNote ? `; ${buildNote}` : ''}`);
    console.log('| xz -T0 setting | time | .raw.xz size | decompress |');
    console.log('|---|---|---|---|');
    for (const setting of SETTINGS) {
      const out = join(work, 'out.xz');
      const seconds = await timeCommand('sh', ['-c', 'xz -T0 "$@" -c -- "$DISK" > "$OUT"', 'sh', ...setting], {
        env: { ...process.env, DISK: disk, OUT: out },
      });
      const size = statSync(out).size / 2 ** 20;
      const unpack = await timeCommand('sh', ['-c', 'xz -dc -T0 -- "$OUT" > /dev/null'], { env: { ...process.env, OUT: out } });
      console.log(`| ${setting.join(' ')} | ${seconds.toFixed(1)} s | ${size.toFixed(1)} MiB | ${unpack.toFixed(1)} s |`);
      rmSync(out, { force: true });
    }
  } finally {
    if (!process.env.KEEP_XZ_WORK) rmSync(work, { recursive: true, force: true });
    else if (existsSync(work)) console.log(`kept ${work}`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
