import { existsSync } from 'node:fs';
import { BuildError } from '../../errors';
import { BuildContext, Stage } from '../context';
import { aptSources } from '../distributions';
import { run } from '../exec';
import { requireHostTools } from '../host-tools';
import { checkArchive } from '../mirror-check';

/**
 * bootstrap: mmdebstrap the distribution, with every package the image needs, into the
 * work dir's rootfs. Package lists are kept for provisioning (finalize removes them).
 */
export const bootstrapStage: Stage = {
  name: 'bootstrap',

  describe: (ctx) => `${ctx.distribution.codename}, ${ctx.packages.length} packages`,

  async verify(ctx) {
    requireHostTools([{ command: 'mmdebstrap', package: 'mmdebstrap' }]);
    const { distribution } = ctx;
    if (!existsSync(distribution.keyring)) {
      throw new BuildError(
        `the ${distribution.os} archive keyring ${distribution.keyring} is missing ` +
          `(install with: apt-get install ${distribution.keyringPackage})`,
      );
    }
    for (const source of aptSources(distribution, ctx.request.mirror, ctx.request.securityMirror)) {
      const what = source.suites[0].endsWith('-security') ? 'security mirror' : 'mirror';
      await checkArchive(source.uri, source.suites[0], what, ctx.signal);
    }
  },

  async run(ctx) {
    await run('mmdebstrap', mmdebstrapArguments(ctx), {
      log: ctx.log,
      signal: ctx.signal,
      describe: 'mmdebstrap',
      env: { ...process.env, LC_ALL: 'C.UTF-8' },
    });
  },
};

export function mmdebstrapArguments(ctx: Pick<BuildContext, 'distribution' | 'request' | 'recipe' | 'packages' | 'rootfs'>): string[] {
  const { distribution, request } = ctx;
  // One-line sources take one suite each: "deb URI SUITE COMPONENT...".
  const sources = aptSources(distribution, request.mirror, request.securityMirror).flatMap((source) =>
    source.suites.map((suite) => `deb ${source.uri} ${suite} ${source.components.join(' ')}`),
  );
  return [
    '--mode=root',
    `--variant=${ctx.recipe.variant}`,
    '--format=directory',
    `--keyring=${distribution.keyring}`,
    `--components=${distribution.components.join(',')}`,
    ...(ctx.packages.length > 0 ? [`--include=${ctx.packages.join(',')}`] : []),
    '--aptopt=Acquire::Languages "none"',
    '--aptopt=Acquire::Retries "3"',
    '--skip=cleanup/apt/lists',
    distribution.codename,
    ctx.rootfs,
    ...sources,
  ];
}
