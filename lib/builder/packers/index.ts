import { UsageError } from '../../core/errors';
import { BuildType } from '../../recipes/schema';
import { Packer } from './packer';
import { lxdPacker } from './lxd';
import { ociPacker } from './oci';
import { bareMetalPacker } from './disk';

/** The packers, keyed by build type (one line each). */
const PACKERS: Partial<Record<BuildType, Packer>> = {
  lxd: lxdPacker,
  docker: ociPacker,
  bare_metal: bareMetalPacker,
};

export function packerFor(buildType: BuildType): Packer {
  const packer = PACKERS[buildType];
  if (!packer) throw new UsageError(`build_type ${buildType} is not supported by this builder yet`);
  return packer;
}
