import { Architecture, hostArchitecture } from '../../core/architecture';
import { foreignArchProblem } from '../foreign-arch';

/**
 * Whether a container runtime of the gate can run an image of another architecture than
 * this host's (docs/TEST_GATE.md, "Other architectures"): undefined when it can, else why
 * not in one line. podman runs a foreign image's programs through qemu-user in binfmt_misc
 * (the F flag: the interpreter works inside the container), as the build's chroot does;
 * LXD launches only images of its host's architectures, and the podman-systemd fallback
 * (systemd as PID 1 under qemu-user) is not attempted. Runtimes not named here (QEMU's
 * disks) have their own rule.
 */
export function containerArchitectureProblem(
  runtime: string, architecture: Architecture, options: { nodeArch?: string; binfmtDir?: string } = {},
): string | undefined {
  const host = hostArchitecture(options.nodeArch);
  if (host === architecture) return undefined;
  const on = `an ${architecture} image on this ${host ?? options.nodeArch ?? process.arch} host`;
  if (runtime === 'podman') {
    const problem = foreignArchProblem(architecture, options);
    return problem === undefined ? undefined : `${on}: ${problem}`;
  }
  if (runtime === 'lxd') return `${on}: LXD launches only images of its host's architecture`;
  if (runtime === 'podman-systemd') return `${on}: the gate does not boot a foreign systemd under qemu-user emulation`;
  return undefined;
}
