import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import packageJson from '../../package.json';
import { run } from '../core/exec';
import { BuildLog } from '../core/log';
import { BootstrapKeyInput, bootstrapKey } from './bootstrap-cache';
import { BootstrapSpec } from './bootstrap-spec';
import { hostToolEnv, PACKAGE_INSTALL_ENV } from './command-env';
import { sourceDateEnv } from './source-date';

/** The arguments of `mmdebstrap` that bootstrap `spec` into the directory `target`; `options` (hooks) go before the positionals. */
export function mmdebstrapArguments(spec: BootstrapSpec, target: string, options: string[] = []): string[] {
  const { distribution } = spec;
  return [
    '--mode=root',
    `--variant=${spec.variant}`,
    '--format=directory',
    `--architectures=${spec.architecture}`,
    `--keyring=${distribution.keyring}`,
    `--components=${distribution.components.join(',')}`,
    ...(spec.packages.length > 0 ? [`--include=${spec.packages.join(',')}`] : []),
    '--aptopt=Acquire::Languages "none"',
    '--aptopt=Acquire::Retries "3"',
    '--skip=cleanup/apt/lists',
    ...spec.dpkgOptions.map((option) => `--dpkgopt=${option}`),
    ...options,
    distribution.codename,
    target,
    ...spec.sources,
  ];
}

/** mmdebstrap of `spec` into `target`; package lists are kept for provisioning. */
export async function runMmdebstrap(
  spec: BootstrapSpec,
  target: string,
  options: string[],
  context: { log: BuildLog; signal: AbortSignal; sourceDateEpoch: number },
): Promise<void> {
  await run('mmdebstrap', mmdebstrapArguments(spec, target, options), {
    log: context.log,
    signal: context.signal,
    describe: 'mmdebstrap',
    // Its environment reaches every maintainer script: named variables only, no host secret.
    // SOURCE_DATE_EPOCH: mmdebstrap, dpkg and the scripts write the build time, not the clock's.
    // INITRD=No: one initramfs per kernel, from initramfs-tools' trigger (PACKAGE_INSTALL_ENV).
    env: hostToolEnv({ ...PACKAGE_INSTALL_ENV, ...sourceDateEnv(context.sourceDateEpoch) }),
  });
}

/** The cache key of `spec`, from the spec and the versions of the tools that act on it. */
export async function bootstrapKeyOf(spec: BootstrapSpec, log: BuildLog): Promise<{ key: string; input: BootstrapKeyInput }> {
  const { stdout } = await run('mmdebstrap', ['--version'], { log, capture: true, env: hostToolEnv(), describe: 'mmdebstrap --version' });
  const input: BootstrapKeyInput = {
    toolVersion: packageJson.version,
    mmdebstrapVersion: stdout.trim(),
    codename: spec.distribution.codename,
    variant: spec.variant,
    architecture: spec.architecture,
    components: spec.distribution.components,
    sources: spec.sources,
    packages: spec.packages,
    keyringSha256: createHash('sha256').update(readFileSync(spec.distribution.keyring)).digest('hex'),
    // Only when there are some, so the keys of trees without them stay what they were.
    ...(spec.dpkgOptions.length > 0 ? { dpkgOptions: spec.dpkgOptions } : {}),
  };
  return { key: bootstrapKey(input), input };
}
