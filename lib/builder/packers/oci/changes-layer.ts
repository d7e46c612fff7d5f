import { lstatSync, readdirSync } from 'node:fs';
import { rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildError } from '../../../core/errors';
import { run } from '../../../core/exec';
import { quote } from '../../../core/message-text';
import { BuildLog } from '../../../core/log';
import { hostToolEnv } from '../../command-env';
import { treeShape } from '../../bootstrap-cache';
import { byteProgressOf } from '../../../core/progress';
import { compressStream, LayerResult } from './layer';
import { layerTarArgs } from './layer-tar';

/** What an OCI layer says for "this name is gone" and "this directory replaces the one below". */
export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

/** Overlay's extended attributes on its upper directory, by path: what the layer must translate. */
export interface OverlayMarks {
  /** Directories marked opaque (trusted.overlay.opaque="y"): nothing below them shows through. */
  opaque: string[];
  /** Anything this packer cannot translate (renamed directories, metadata-only copies). */
  unsupported: string[];
}

/** Parses `getfattr --absolute-names -R -h -d -m '^trusted\.overlay\.'` of the upper directory. */
export function parseOverlayMarks(dump: string): OverlayMarks {
  const marks: OverlayMarks = { opaque: [], unsupported: [] };
  let file: string | undefined;
  for (const line of dump.split('\n')) {
    if (line.startsWith('# file: ')) file = line.slice('# file: '.length);
    else if (file && line.startsWith('trusted.overlay.')) {
      const [name, value = ''] = line.slice('trusted.overlay.'.length).split('=', 2);
      if (name === 'opaque' && value.replace(/"/g, '') === 'y') marks.opaque.push(file);
      else if (name === 'redirect' || name === 'metacopy') marks.unsupported.push(`${file} (${name})`);
    }
  }
  return marks;
}

/** Whether an lstat result is an overlay whiteout: a character device 0/0. */
export function isWhiteout(stats: { isCharacterDevice(): boolean; rdev: number }): boolean {
  return stats.isCharacterDevice() && stats.rdev === 0;
}

/**
 * The build's own changes as a layer on top of the base: the overlay's upper directory,
 * with each whiteout (a 0/0 character device) written as an empty `.wh.<name>` and each
 * opaque directory given a `.wh..wh..opq`. The upper directory is not changed: the layer
 * is made from a tree of hard links to it. Returns undefined, and says why, when the upper
 * directory holds what a layer cannot say (overlay renames or metadata-only copies).
 */
export async function writeChangesLayer(
  upper: string,
  outFile: string,
  epoch: number,
  scratchDir: string,
  options: { log: BuildLog; signal: AbortSignal },
): Promise<LayerResult | undefined> {
  const { log, signal } = options;
  const { stdout } = await run(
    'getfattr',
    ['--absolute-names', '--recursive', '--physical', '--no-dereference', '--dump', '--match=^trusted\\.overlay\\.', upper],
    { log, signal, capture: true, env: hostToolEnv(), describe: 'getfattr (overlay marks)' },
  );
  const marks = parseOverlayMarks(stdout);
  if (marks.unsupported.length > 0) {
    log.info(`the overlay holds what a layer cannot say (${marks.unsupported.slice(0, 3).join(', ')}); packing one layer instead`);
    return undefined;
  }
  const tree = join(scratchDir, 'changes');
  await rm(tree, { recursive: true, force: true });
  try {
    await run('cp', ['-a', '--link', '--', upper, tree], { log, signal, describe: 'link the overlay changes' });
    const whiteouts = await translateWhiteouts(tree);
    for (const dir of marks.opaque) {
      const inTree = join(tree, dir.slice(upper.length));
      await writeMarker(join(inTree, OPAQUE_MARKER), 0o644);
    }
    log.debug(`changes layer: ${whiteouts} whiteouts, ${marks.opaque.length} opaque directories`);
    return await compressStream('tar', layerTarArgs(tree, epoch), outFile, {
      ...options, progress: byteProgressOf(log, 'pigz of the changes'), total: treeShape(tree).bytes,
    });
  } finally {
    await rm(tree, { recursive: true, force: true });
  }
}

/**
 * Creates an empty marker file, never through what stands at its path: the tree is the
 * image's own (a recipe may have left a link named `.wh.<name>` pointing anywhere on the
 * host), so 'wx' (O_CREAT|O_EXCL) refuses an existing file or link instead of following it.
 */
async function writeMarker(path: string, mode: number): Promise<void> {
  try {
    await writeFile(path, '', { mode, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    throw new BuildError(`the image holds ${quote(path.split('/').pop()!)} where the container layer needs its own marker; remove it in the recipe`);
  }
}

/** Replaces every whiteout device below `dir` by an empty `.wh.<name>` file; returns how many. */
async function translateWhiteouts(dir: string): Promise<number> {
  let count = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const stats = lstatSync(path);
    if (isWhiteout(stats)) {
      await unlink(path);
      await writeMarker(join(dir, `${WHITEOUT_PREFIX}${name}`), 0o600);
      count++;
    } else if (stats.isDirectory()) {
      count += await translateWhiteouts(path);
    }
  }
  return count;
}
