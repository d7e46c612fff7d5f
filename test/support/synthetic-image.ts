import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BuiltImage, mainArtifact } from '../../lib/core/image';
import { digestFile } from '../../lib/core/digest';
import { imageName } from '../../lib/core/naming';
import { BuildType } from '../../lib/recipes/schema';
import { PlannedImage } from '../../lib/storage/store';

export interface SyntheticImageSpec {
  dir: string;
  organization?: string;
  name: string;
  distribution: string;
  releaseLabel: string;
  timestamp: string;
  /** Size of the image file in bytes (random content). */
  size: number;
  buildType?: BuildType;
  /** Extension of the image file. */
  extension?: string;
}

/**
 * A BuiltImage as a build hands it to a store, with random content of a chosen size: an
 * image file, a package manifest, and real digests.
 */
export async function syntheticImage(spec: SyntheticImageSpec): Promise<BuiltImage> {
  const buildType: BuildType = spec.buildType ?? 'lxd';
  const extension = spec.extension ?? (buildType === 'bare_metal' ? 'raw.xz' : 'tar.gz');
  const organization = spec.organization ?? 'acme';
  const name = imageName({ organization, name: spec.name, distribution: spec.distribution, releaseLabel: spec.releaseLabel, timestamp: spec.timestamp });
  const dir = join(spec.dir, name);
  await mkdir(dir, { recursive: true });
  const fileName = `${name}.${extension}`;
  const path = join(dir, fileName);
  const chunk = 4 << 20;
  await writeFile(path, Buffer.alloc(0));
  for (let written = 0; written < spec.size; written += chunk) {
    await writeFile(path, randomBytes(Math.min(chunk, spec.size - written)), { flag: 'a' });
  }
  const manifestPath = join(dir, `${name}.manifest`);
  await writeFile(manifestPath, `base-files\t12.4\nbash\t5.2.15-2\n${spec.name}\t1.0\n`);
  const digest = await digestFile(path);
  return {
    imageName: name,
    name: spec.name,
    distribution: spec.distribution,
    organization,
    releaseLabel: spec.releaseLabel,
    timestamp: spec.timestamp,
    buildType,
    indexKey: 'raw',
    artifacts: [{ ...digest, fileName, path, role: 'image' }],
    manifestPath,
  };
}

/** The PlannedImage a run would hand its store for this image (what verify() checks). */
export function plannedOf(image: BuiltImage): PlannedImage {
  return { imageName: image.imageName, releaseLabel: image.releaseLabel, buildType: image.buildType, indexKey: image.indexKey, fileName: mainArtifact(image).fileName };
}

/**
 * A synthetic raw disk for the AMI tests: `layout` says, per 512 KiB block, whether it is
 * zeros (`0`) or random data (`1`); `tail` bytes of random data follow (a last, partial
 * block). Written as `<path>` and compressed to `<path>.xz` (kept both); returns the raw
 * bytes' sha256 and the indexes of the non-zero blocks.
 */
export async function syntheticRawDisk(path: string, layout: string, tail = 0): Promise<{ raw: string; xz: string; size: number; sha256: string; dataBlocks: number[] }> {
  const block = 512 * 1024;
  const parts: Buffer[] = [];
  const dataBlocks: number[] = [];
  for (const [index, kind] of [...layout].entries()) {
    if (kind === '1') dataBlocks.push(index);
    parts.push(kind === '1' ? randomBytes(block) : Buffer.alloc(block));
  }
  if (tail > 0) {
    dataBlocks.push(layout.length);
    parts.push(randomBytes(tail));
  }
  const disk = Buffer.concat(parts);
  await writeFile(path, disk);
  execFileSync('xz', ['-0', '-k', '-f', '-T1', path]);
  return { raw: path, xz: `${path}.xz`, size: disk.length, sha256: createHash('sha256').update(disk).digest('hex'), dataBlocks };
}

/** A BuiltImage of build type ami whose image file is this .raw.xz disk. */
export async function syntheticAmiImage(spec: Omit<SyntheticImageSpec, 'size' | 'buildType' | 'extension'> & { layout: string; tail?: number }): Promise<{ image: BuiltImage; disk: Awaited<ReturnType<typeof syntheticRawDisk>> }> {
  const image = await syntheticImage({ ...spec, size: 0, buildType: 'ami', extension: 'raw.xz' });
  const file = mainArtifact(image);
  const disk = await syntheticRawDisk(file.path.replace(/\.xz$/, ''), spec.layout, spec.tail ?? 0);
  const digest = await digestFile(file.path);
  image.artifacts[0] = { ...file, ...digest };
  return { image: { ...image, indexKey: 'ami' }, disk };
}
