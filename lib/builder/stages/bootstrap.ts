import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { debDirOf } from '../base-rootfs';
import { BuildError } from '../../core/errors';
import { mountChroot } from '../chroot';
import { CHROOT_ENV, PACKAGE_INSTALL_ENV } from '../command-env';
import { BuildContext, Stage } from '../context';
import { aptSources, missingKeyringAdvice } from '../../core/distributions';
import { run } from '../../core/exec';
import { requireHostTools } from '../../core/host-tools';
import { requireArchitectureSupport } from '../foreign-arch';
import { checkArchive } from '../mirror-check';
import { mountOverlayRootfs } from '../overlay';
import { Rootfs } from '../rootfs-path';
import { sourceDateEnvOf } from '../source-date';

/**
 * bootstrap: the build's rootfs, as an overlay on a bootstrapped base: the cached tree on
 * a cache hit, else one mmdebstrap makes (and caches) now. The base is shared by the builds
 * of one run that bootstrap alike; packages this build needs beyond it are installed in
 * its overlay. Package lists are kept for provisioning (finalize removes them).
 */
export const bootstrapStage: Stage = {
  name: 'bootstrap',

  describe: (ctx) => `${ctx.request.distribution.codename}, ${ctx.packages.length} packages${ctx.request.noCache ? ', no cache' : ''}`,

  async verify(ctx) {
    requireHostTools([
      { command: 'mmdebstrap', package: 'mmdebstrap' },
      ...(ctx.request.noCache ? [] : [{ command: 'zstd', package: 'zstd' }, { command: 'flock', package: 'util-linux' }]),
    ]);
    requireArchitectureSupport(ctx.request.architecture);
    const { distribution } = ctx.request;
    if (!existsSync(distribution.keyring)) {
      throw new BuildError(
        `the ${distribution.os} archive keyring ${distribution.keyring} is missing (${missingKeyringAdvice(distribution)})`,
      );
    }
    for (const source of aptSources(distribution, ctx.request.mirror, ctx.request.securityMirror)) {
      const what = source.suites[0].endsWith('-security') ? 'security mirror' : 'mirror';
      await checkArchive(source.uri, source.suites[0], what, ctx.signal);
    }
  },

  async run(ctx) {
    const base = await ctx.base.obtain(ctx.log, ctx.signal);
    ctx.cacheOutcome = base.cache;
    const { upper } = await mountOverlayRootfs(base.tree, ctx.workDir, {
      log: ctx.log, cleanups: ctx.cleanups, signal: ctx.signal, keep: ctx.request.keepWorkDir,
    });
    if (upper) {
      ctx.layers = { baseTree: base.tree, baseCache: base.derived, upper };
      // A kept work dir says where its layers came from (its overlay/upper stays; see overlay.ts).
      if (ctx.request.keepWorkDir) await writeFile(join(ctx.workDir, 'layers.json'), `${JSON.stringify(ctx.layers, null, 2)}\n`);
    }
    // The resolver of this host, not of the one that made the base (finalize removes it).
    if (existsSync('/etc/resolv.conf')) await new Rootfs(ctx.rootfs).copyIn('/etc/resolv.conf', '/etc/resolv.conf', { mode: 0o644 });
    const extra = ctx.packages.filter((pkg) => !base.packages.includes(pkg));
    if (extra.length > 0) await installExtraPackages(ctx, extra);
  },
};

/**
 * Installs the packages this build needs beyond the shared base (in its overlay), with
 * the shared .deb cache as apt's archive. If the base's package lists are older than the
 * mirror's files, the lists are refreshed once and the install retried.
 */
async function installExtraPackages(ctx: BuildContext, packages: string[]): Promise<void> {
  const { log, signal, cleanups } = ctx;
  ctx.chroot ??= await mountChroot(ctx.rootfs, log, cleanups, signal, sourceDateEnvOf(ctx.request));
  let apt = ['chroot', ctx.rootfs, 'apt-get'];
  // Bind-mounted over: the place the rootfs's own links name, inside it.
  const archives = new Rootfs(ctx.rootfs).resolve('/var/cache/apt/archives');
  const unmountLabel = `unmount ${archives}`;
  if (!ctx.request.noCache) {
    const debDir = debDirOf(ctx.request.cacheDir);
    await mkdir(join(debDir, 'partial'), { recursive: true });
    await run('mount', ['--bind', debDir, archives], { log, signal, describe: 'mount the .deb cache' });
    cleanups.push(unmountLabel, async () => {
      await run('umount', ['--lazy', archives], { log, describe: `umount ${archives}` });
    });
    // One apt at a time writes the shared archive (apt's own lock would fail, not wait).
    apt = ['flock', join(debDir, '.lock'), ...apt];
  }
  const aptGet = (args: string[], describe: string) =>
    run(apt[0], [...apt.slice(1), ...args], { log, signal, env: { ...CHROOT_ENV, ...PACKAGE_INSTALL_ENV, ...sourceDateEnvOf(ctx.request) }, describe });
  const install = () => aptGet(['install', '-y', '--no-install-recommends', ...packages], `apt-get install ${packages.join(' ')}`);
  try {
    await install();
  } catch (error) {
    if (signal.aborted) throw error;
    log.warn('installing the extra packages failed; refreshing the package lists and trying again');
    await aptGet(['update'], 'apt-get update');
    await install();
  } finally {
    // Before anything else runs apt: finalize's `apt-get clean` must not empty the shared cache.
    await cleanups.runNow(unmountLabel, log);
  }
}
