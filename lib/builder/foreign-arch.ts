import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { Architecture, architectureNames, hostArchitecture } from '../core/architecture';
import { BuildError } from '../core/errors';
import { findOnPath } from '../core/host-tools';

const BINFMT_DIR = '/proc/sys/fs/binfmt_misc';
const SETUP = 'install qemu-user-static and binfmt-support (./scripts/install-deps does both)';

/**
 * Whether this host can run programs of a build's architecture inside its rootfs: natively,
 * or through qemu-user registered in binfmt_misc with the F flag (the interpreter opened at
 * registration, so it works inside a chroot that does not hold it). `undefined` when it can,
 * else one line saying what is missing. Asks arch-test, the tool mmdebstrap itself uses.
 */
export function foreignArchProblem(architecture: Architecture, options: { nodeArch?: string; binfmtDir?: string } = {}): string | undefined {
  const host = hostArchitecture(options.nodeArch);
  if (host === architecture) return undefined;
  const what = `an ${architecture} build runs ${architecture} programs in its rootfs, and this ${host ?? process.arch} host`;
  const binfmtDir = options.binfmtDir ?? BINFMT_DIR;
  if (!existsSync(`${binfmtDir}/status`)) {
    return `${what} has no binfmt_misc mounted (mount -t binfmt_misc binfmt_misc ${binfmtDir}; ${SETUP})`;
  }
  const entry = `${binfmtDir}/qemu-${architectureNames(architecture).kernel}`;
  if (!existsSync(entry)) return `${what} has no qemu-${architectureNames(architecture).kernel} in binfmt_misc (${SETUP})`;
  const registration = readFileSync(entry, 'utf8');
  if (!/^enabled/m.test(registration)) return `${what} has qemu-${architectureNames(architecture).kernel} disabled in binfmt_misc (update-binfmts --enable)`;
  const flags = /^flags:\s*(\S*)/m.exec(registration)?.[1] ?? '';
  if (!flags.includes('F')) {
    return `${what} registers qemu-${architectureNames(architecture).kernel} without the F flag, so it cannot run inside a chroot (${SETUP}: qemu-user-static registers it with F)`;
  }
  if (findOnPath('arch-test')) {
    const tested = spawnSync('arch-test', [architecture], { encoding: 'utf8', timeout: 30_000 });
    if (tested.status !== 0) return `${what} cannot run them: arch-test says ${(tested.stdout || tested.stderr || '').trim() || `exit ${tested.status}`}`;
  }
  return undefined;
}

/** Fails with the one line foreignArchProblem gives, if any. */
export function requireArchitectureSupport(architecture: Architecture): void {
  const problem = foreignArchProblem(architecture);
  if (problem !== undefined) throw new BuildError(problem);
}
