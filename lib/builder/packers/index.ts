import { UsageError } from '../../core/errors';
import { BuildType } from '../../recipes/schema';
import { BuildRequest } from '../request';
import { Packer } from './packer';
import { lxdPacker } from './lxd';
import { ociPacker } from './oci';
import { bareMetalPacker } from './disk';
import { amiPacker } from './ami';

/** The packers, keyed by build type (one line each). */
const PACKERS: Partial<Record<BuildType, Packer>> = {
  lxd: lxdPacker,
  docker: ociPacker,
  bare_metal: bareMetalPacker,
  ami: amiPacker,
};

/** The image file a request's build makes: `<image_name>.<extension of its build type>`. */
export function imageFileName(request: Pick<BuildRequest, 'imageName' | 'recipe'>): string {
  return `${request.imageName}.${packerFor(request.recipe.build_type).extension}`;
}

export function packerFor(buildType: BuildType): Packer {
  const packer = PACKERS[buildType];
  if (!packer) throw new UsageError(`build_type ${buildType} is not supported by this builder yet`);
  return packer;
}
