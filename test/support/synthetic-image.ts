import { randomBytes } from 'node:crypto';
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
