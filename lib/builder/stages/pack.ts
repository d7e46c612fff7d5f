import { basename } from 'node:path';
import { Stage } from '../context';
import { digestFile } from '../../core/digest';
import { requireHostTools } from '../../core/host-tools';

/** pack: the build type's packer turns the finished rootfs into the image file. */
export const packStage: Stage = {
  name: 'pack',

  describe: (ctx) => `${ctx.request.recipe.build_type} → .${ctx.packer.extension}`,

  async verify(ctx) {
    requireHostTools(ctx.packer.hostTools(ctx.request.recipe));
    await ctx.packer.verify(ctx.request);
  },

  async run(ctx) {
    ctx.packed = await ctx.packer.pack(ctx);
  },
};

/** checksum: md5 (tailor's consumers) and sha256 of every file the packer made. */
export const checksumStage: Stage = {
  name: 'checksum',

  describe: () => 'md5 + sha256',

  verify() {
    // Hashing needs nothing from the host.
  },

  async run(ctx) {
    ctx.artifacts = [];
    for (const file of ctx.packed) {
      const digest = await digestFile(file.path);
      ctx.artifacts.push({ ...digest, fileName: basename(file.path), path: file.path, role: file.role });
    }
  },
};
