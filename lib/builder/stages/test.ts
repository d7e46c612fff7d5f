import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { BuildError } from '../../core/errors';
import { digestFile } from '../../core/digest';
import { Stage } from '../context';
import { pickRuntime, runImageTests } from '../image-tests';

/**
 * test: the gate between checksum and store. The image file as it will be stored is started
 * in its real consumer (LXD, podman, QEMU), the built-in checks and the recipe's `tests:`
 * run inside it, and it is stopped and thrown away. A failing check fails the build, so
 * nothing is stored. The stored file must still have the digest checksum gave it.
 */
export const testStage: Stage = {
  name: 'test',

  describe: (plan) => {
    const mode = plan.request.test?.mode ?? 'off';
    if (mode === 'off' || plan.testing?.off) return 'off';
    return `${plan.testing?.runtime?.name ?? '?'}: built-in checks + ${plan.request.recipe.tests.length} from the recipe`;
  },

  async verify(plan) {
    const mode = plan.request.test?.mode ?? 'off';
    if (mode === 'off') {
      plan.testing = { off: plan.request.test?.reason ?? 'not asked for (--test runs them)' };
      return;
    }
    const { runtime, reason } = await pickRuntime(plan);
    if (runtime) {
      plan.testing = { runtime };
      return;
    }
    if (mode === 'force') {
      throw new BuildError(`--test: this host cannot run ${plan.request.recipe.build_type} images to test them (${reason})`);
    }
    plan.testing = { off: `this host cannot run ${plan.request.recipe.build_type} images (${reason}); --test would fail, --no-test says so` };
  },

  async run(ctx) {
    const runtime = ctx.testing?.runtime;
    if (!runtime) {
      ctx.log.info(`tests off: ${ctx.testing?.off ?? 'not asked for'}`);
      return;
    }
    const image = ctx.artifacts.find((a) => a.role === 'image');
    if (!image) throw new BuildError(`test: the build of ${ctx.request.imageName} made no image file`);
    const dir = join(ctx.scratchDir, 'test');
    await mkdir(dir, { recursive: true });
    ctx.testReport = await runImageTests(ctx, runtime, image, dir);
    const after = await digestFile(image.path);
    if (after.sha256 !== image.sha256) throw new BuildError(`test: ${image.fileName} changed while it was tested; nothing was stored`);
  },
};
