import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { digestFile } from '../../../core/digest';
import { BuildLog } from '../../../core/log';
import { CleanupStack } from '../../cleanup';
import { mountOverlayRootfs } from '../../overlay';
import { Rootfs } from '../../rootfs-path';
import { scrubMachineState } from '../../scrub';
import { removeWorkDir } from '../../workdir';
import { treeShape } from '../../bootstrap-cache';
import { byteProgressOf } from '../../../core/progress';
import { compressStream, LayerResult } from './layer';
import { layerTarArgs } from './layer-tar';

/** Bump when the base layer's contents or tar options change (old kept layers are then made again). */
const BASE_LAYER_FORMAT = 1;

/** A base layer kept beside its tree: the blob and what the manifest and config say of it. */
export interface BaseLayer extends LayerResult {
  file: string;
}

interface BaseLayerRecord extends LayerResult {
  format: number;
}

/** One making per kept layer and process: builds of one run on one base wait for the same. */
const making = new Map<string, Promise<BaseLayer>>();

/**
 * The shared base as a container layer: the base tree, scrubbed as finalize scrubs every
 * image (no machine id, host keys, apt lists, logs, build host's resolver or name), packed
 * once and kept at `<derived>.oci-base.tar.gz` beside the tree's cache entry. Every image
 * on the same base gets the very same blob, so a registry that has it is sent none of it.
 * The tree itself is never written: the scrub happens in an overlay of its own.
 */
export function baseLayer(
  baseTree: string,
  derived: string,
  scratchDir: string,
  options: { log: BuildLog; signal: AbortSignal },
): Promise<BaseLayer> {
  const file = `${derived}.oci-base.tar.gz`;
  let pending = making.get(file);
  if (!pending) {
    pending = obtain(baseTree, file, scratchDir, options).finally(() => making.delete(file));
    making.set(file, pending);
  }
  return pending;
}

async function obtain(baseTree: string, file: string, scratchDir: string, options: { log: BuildLog; signal: AbortSignal }): Promise<BaseLayer> {
  const recordFile = file.replace(/\.tar\.gz$/, '.json');
  const kept = await readKept(file, recordFile);
  if (kept) {
    options.log.info(`container base layer: reused ${kept.digest.slice(7, 19)} (${(kept.size / 2 ** 20).toFixed(1)} MiB)`);
    return kept;
  }
  const dir = join(scratchDir, `base-layer-${randomBytes(4).toString('hex')}`);
  const cleanups = new CleanupStack();
  cleanups.push(`remove ${dir}`, () => removeWorkDir(dir, options.log));
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await mkdir(dir, { recursive: true });
    await mkdir(dirname(file), { recursive: true });
    const { rootfs } = await mountOverlayRootfs(baseTree, dir, { ...options, cleanups, keep: false });
    const image = new Rootfs(rootfs);
    await scrubMachineState(image);
    // Each image writes its own name (finalize); the host's stays out of the base.
    await image.remove('/etc/hostname');
    const layer = await compressStream('tar', layerTarArgs(rootfs, baseEpoch(baseTree)), temp, {
      ...options, progress: byteProgressOf(options.log, 'pigz of the shared base'), total: treeShape(baseTree).bytes,
    });
    await rename(temp, file);
    const record: BaseLayerRecord = { format: BASE_LAYER_FORMAT, ...layer };
    await writeFile(`${recordFile}.${process.pid}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
    await rename(`${recordFile}.${process.pid}.tmp`, recordFile);
    options.log.info(`container base layer: made ${layer.digest.slice(7, 19)} (${(layer.size / 2 ** 20).toFixed(1)} MiB), kept for the next builds on this base`);
    return { ...layer, file };
  } finally {
    await rm(temp, { force: true });
    await cleanups.runAll(options.log);
  }
}

/** A kept layer whose record, size and digest agree; anything else is made again. */
async function readKept(file: string, recordFile: string): Promise<BaseLayer | undefined> {
  if (!existsSync(recordFile) || !existsSync(file)) return undefined;
  let record: BaseLayerRecord;
  try {
    record = JSON.parse(readFileSync(recordFile, 'utf8')) as BaseLayerRecord;
  } catch {
    return undefined;
  }
  if (record.format !== BASE_LAYER_FORMAT || statSync(file).size !== record.size) return undefined;
  const { sha256 } = await digestFile(file);
  if (`sha256:${sha256}` !== record.digest) return undefined;
  return { digest: record.digest, diffId: record.diffId, size: record.size, file };
}

/**
 * The time the base's files are clamped to: when it was bootstrapped (its dpkg status was
 * last written), in whole seconds, read from the tree so every image on it agrees.
 */
export function baseEpoch(baseTree: string): number {
  return Math.floor(statSync(join(baseTree, 'var', 'lib', 'dpkg', 'status')).mtimeMs / 1000);
}
