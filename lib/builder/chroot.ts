import { CleanupStack } from './cleanup';
import { CHROOT_ENV } from './command-env';
import { run, RunResult } from '../core/exec';
import { BuildLog } from '../core/log';
import { ChrootRunner } from './packers/packer';
import { Rootfs } from './rootfs-path';

const MOUNTS = [
  { target: 'proc', args: ['-t', 'proc', 'proc'] },
  { target: 'sys', args: ['-t', 'sysfs', '-o', 'ro', 'sysfs'] },
  { target: 'dev/pts', args: ['-t', 'devpts', '-o', 'newinstance,ptmxmode=0666,mode=0620,gid=5', 'devpts'] },
] as const;

const POLICY_RC_D = 'usr/sbin/policy-rc.d';

export interface MountedChroot extends ChrootRunner {
  /** Unmounts everything (also registered on the cleanup stack). */
  unmount(): Promise<void>;
}

/**
 * Mounts /proc, /sys and /dev/pts into the rootfs and stops services from starting
 * (policy-rc.d). The unmount is pushed on the cleanup stack at once, so it happens on
 * failure and on Ctrl-C too.
 */
export async function mountChroot(
  root: string,
  log: BuildLog,
  cleanups: CleanupStack,
  signal: AbortSignal,
  /** Variables every command in the chroot gets beside CHROOT_ENV (the build's SOURCE_DATE_EPOCH). */
  buildEnv: Record<string, string> = {},
): Promise<MountedChroot> {
  const image = new Rootfs(root);
  const mounted: string[] = [];
  const label = `unmount ${root}`;
  const unmountAll = async () => {
    while (mounted.length > 0) {
      const target = mounted.pop()!;
      try {
        await run('umount', [target], { log, describe: `umount ${target}` });
      } catch {
        await run('umount', ['--lazy', target], { log, describe: `umount --lazy ${target}` });
      }
    }
    await image.remove(POLICY_RC_D);
  };
  cleanups.push(label, unmountAll);
  await image.writeFile(POLICY_RC_D, '#!/bin/sh\n# tailor-image: no services start while building\nexit 101\n', { mode: 0o755 });
  for (const mount of MOUNTS) {
    // mount follows links in its target on the host: mount on the place the rootfs's link names.
    await image.mkdirp(mount.target);
    const target = image.resolve(mount.target);
    await run('mount', [...mount.args, target], { log, signal, describe: `mount ${mount.target}` });
    mounted.push(target);
  }
  return {
    root,
    unmount: () => cleanups.runNow(label, log),
    run: (args, options = {}): Promise<RunResult> =>
      run('chroot', [root, ...args], {
        log,
        signal,
        env: { ...CHROOT_ENV, ...buildEnv, ...options.env },
        input: options.input,
        capture: options.capture,
        describe: options.describe ?? args.join(' ').slice(0, 80),
      }),
  };
}
