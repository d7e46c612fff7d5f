import { mountChroot } from '../chroot';
import { sourceDateEnvOf } from '../source-date';
import { Stage } from '../context';

/**
 * prepare: the build type's own set-up inside the provisioned image, before finalize
 * (bare metal: kernel command line, fstab, boot loader; docker: the entrypoint). Packers
 * without one (lxd) leave the tree as provision made it.
 */
export const prepareStage: Stage = {
  name: 'prepare',

  describe: (plan) => (plan.packer.prepareRootfs ? `${plan.request.recipe.build_type} set-up` : 'nothing to do'),

  verify() {
    // The packer's verify() (run by pack's) covers what its preparation needs.
  },

  async run(ctx) {
    if (!ctx.packer.prepareRootfs) return;
    ctx.chroot ??= await mountChroot(ctx.rootfs, ctx.log, ctx.cleanups, ctx.signal, sourceDateEnvOf(ctx.request));
    await ctx.packer.prepareRootfs(ctx);
  },
};
