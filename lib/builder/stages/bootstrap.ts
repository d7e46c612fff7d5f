import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import packageJson from '../../../package.json';
import { BootstrapCache, BootstrapKeyInput, bootstrapKey, debCacheHooks } from '../bootstrap-cache';
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

  describe: (ctx) => `${ctx.distribution.codename}, ${ctx.packages.length} packages${ctx.request.noCache ? ', no cache' : ''}`,

  async verify(ctx) {
    requireHostTools([
      { command: 'mmdebstrap', package: 'mmdebstrap' },
      ...(ctx.request.noCache ? [] : [{ command: 'zstd', package: 'zstd' }, { command: 'flock', package: 'util-linux' }]),
    ]);
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
    const { request, log, signal } = ctx;
    if (request.noCache) {
      ctx.cacheOutcome = 'off';
      await runMmdebstrap(ctx, []);
      return;
    }
    const cache = new BootstrapCache(request.cacheDir, request.cacheMaxAgeHours, log, signal);
    const input = await keyInput(ctx);
    const key = bootstrapKey(input);
    ctx.cacheOutcome = await cache.restore(key, ctx.rootfs);
    if (ctx.cacheOutcome === 'hit') {
      log.info(`bootstrap: cache hit (${key.slice(0, 12)})`);
      return;
    }
    await runMmdebstrap(ctx, debCacheHooks(join(request.cacheDir, 'debs')));
    await cache.save(key, ctx.rootfs, input);
  },
};

async function runMmdebstrap(ctx: BuildContext, extra: string[]): Promise<void> {
  const args = mmdebstrapArguments(ctx);
  // Options go before the suite, target and mirrors (the last three + source lines).
  const firstPositional = args.indexOf(ctx.distribution.codename);
  args.splice(firstPositional, 0, ...extra);
  await run('mmdebstrap', args, {
    log: ctx.log,
    signal: ctx.signal,
    describe: 'mmdebstrap',
    env: { ...process.env, LC_ALL: 'C.UTF-8' },
  });
}

/** What the cache key is made of, read from the tools and files themselves. */
async function keyInput(ctx: BuildContext): Promise<BootstrapKeyInput> {
  const { stdout } = await run('mmdebstrap', ['--version'], { log: ctx.log, capture: true, describe: 'mmdebstrap --version' });
  const args = mmdebstrapArguments(ctx);
  return {
    toolVersion: packageJson.version,
    mmdebstrapVersion: stdout.trim(),
    codename: ctx.distribution.codename,
    variant: ctx.recipe.variant,
    architecture: 'amd64',
    components: ctx.distribution.components,
    sources: args.filter((arg) => arg.startsWith('deb ')),
    packages: ctx.packages,
    keyringSha256: createHash('sha256').update(readFileSync(ctx.distribution.keyring)).digest('hex'),
  };
}

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
