import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import packageJson from '../../package.json';
import { BootstrapKeyInput, bootstrapKey } from './bootstrap-cache';
import { BuildContext } from './context';
import { aptSources } from '../core/distributions';
import { run } from '../core/exec';
import { hostToolEnv } from './command-env';

/** The arguments of `mmdebstrap` for a rootfs with these packages, the mirrors and suites of the request. */
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

/** mmdebstrap into `tree`: the distribution with `packages`, package lists kept for provisioning. */
export async function runMmdebstrap(ctx: BuildContext, tree: string, packages: string[], extraArgs: string[]): Promise<void> {
  const args = mmdebstrapArguments({ ...ctx, packages, rootfs: tree });
  // Options go before the suite, target and mirrors (the last three + source lines).
  const firstPositional = args.indexOf(ctx.distribution.codename);
  args.splice(firstPositional, 0, ...extraArgs);
  await run('mmdebstrap', args, {
    log: ctx.log,
    signal: ctx.signal,
    describe: 'mmdebstrap',
    // Its environment reaches every maintainer script: named variables only, no host secret.
    env: hostToolEnv(),
  });
}

/** What the cache key is made of, read from the tools and files themselves. */
export async function bootstrapKeyOf(ctx: BuildContext, packages: string[]): Promise<{ key: string; input: BootstrapKeyInput }> {
  const { stdout } = await run('mmdebstrap', ['--version'], { log: ctx.log, capture: true, env: hostToolEnv(), describe: 'mmdebstrap --version' });
  const args = mmdebstrapArguments({ ...ctx, packages });
  const input: BootstrapKeyInput = {
    toolVersion: packageJson.version,
    mmdebstrapVersion: stdout.trim(),
    codename: ctx.distribution.codename,
    variant: ctx.recipe.variant,
    architecture: 'amd64',
    components: ctx.distribution.components,
    sources: args.filter((arg) => arg.startsWith('deb ')),
    packages,
    keyringSha256: createHash('sha256').update(readFileSync(ctx.distribution.keyring)).digest('hex'),
  };
  return { key: bootstrapKey(input), input };
}
