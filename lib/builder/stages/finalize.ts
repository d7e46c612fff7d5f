import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildContext, Stage } from '../context';
import { run } from '../../core/exec';
import { hostnameOf } from '../hostname';

/** The first-boot unit that makes this machine's own ssh host keys. */
const SSH_KEYGEN_UNIT = `[Unit]
Description=Generate this machine's SSH host keys (tailor-image first boot)
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
Before=ssh.service ssh.socket
DefaultDependencies=no
After=local-fs.target
Wants=local-fs.target

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`;

/**
 * finalize: make the tree fit to be copied to many machines: no machine-id, no ssh host
 * keys (each machine makes its own at first boot), no apt lists or caches, no build-host
 * files; record the image name in ~/.ota.json and the package manifest.
 */
export const finalizeStage: Stage = {
  name: 'finalize',

  describe: () => 'machine-id, ssh keys, apt lists, manifest',

  verify() {
    // Nothing to check: everything it runs is in the rootfs or in coreutils.
  },

  async run(ctx) {
    const root = ctx.rootfs;
    const chroot = ctx.chroot!;
    await chroot.run(['apt-get', 'clean'], { describe: 'apt-get clean' });
    await ctx.chroot!.unmount();

    await writeFile(join(root, 'etc/machine-id'), '');
    const dbusId = join(root, 'var/lib/dbus/machine-id');
    if (existsSync(dbusId) && !lstatSync(dbusId).isSymbolicLink()) await rm(dbusId);

    await removeMatching(join(root, 'etc/ssh'), /^ssh_host_.*key(\.pub)?$/);
    if (existsSync(join(root, 'usr/bin/ssh-keygen')) && existsSync(join(root, 'etc/ssh/sshd_config'))) {
      await installFirstBootKeygen(root);
    }

    await removeChildren(join(root, 'var/lib/apt/lists'), (name) => name !== 'partial' && name !== 'lock');
    await removeChildren(join(root, 'var/cache/apt'), (name) => name.endsWith('.bin'));
    await removeChildren(join(root, 'var/cache/apt/archives'), (name) => name.endsWith('.deb'));
    await removeChildren(join(root, 'tmp'), () => true);
    await removeChildren(join(root, 'var/tmp'), () => true);
    await removeChildren(join(root, 'var/log/apt'), () => true);
    for (const log of ['var/log/dpkg.log', 'var/log/alternatives.log', 'var/log/bootstrap.log']) {
      await rm(join(root, log), { force: true });
    }

    // mmdebstrap copied the build host's resolver and name; neither belongs in the image.
    await rm(join(root, 'etc/resolv.conf'), { force: true });
    if (existsSync(join(root, 'lib/systemd/systemd-resolved')) || existsSync(join(root, 'usr/lib/systemd/systemd-resolved'))) {
      await symlink('../run/systemd/resolve/stub-resolv.conf', join(root, 'etc/resolv.conf'));
    } else {
      await writeFile(join(root, 'etc/resolv.conf'), '');
    }
    await writeFile(join(root, 'etc/hostname'), `${hostnameOf(ctx.request.recipe)}\n`);

    await writeOtaFile(ctx);
    await writeBuildRecord(ctx);
    await writeManifest(ctx, ctx.manifestPath);
  },
};

async function installFirstBootKeygen(root: string): Promise<void> {
  const unitDir = join(root, 'etc/systemd/system');
  await mkdir(join(unitDir, 'multi-user.target.wants'), { recursive: true });
  await writeFile(join(unitDir, 'tailor-ssh-keygen.service'), SSH_KEYGEN_UNIT);
  const link = join(unitDir, 'multi-user.target.wants/tailor-ssh-keygen.service');
  await rm(link, { force: true });
  await symlink('/etc/systemd/system/tailor-ssh-keygen.service', link);
}

/** `/home/<user>/.ota.json` = {"active_version": "<image_name>"}, owned by the user. */
async function writeOtaFile(ctx: BuildContext): Promise<void> {
  const user = ctx.request.recipe.user?.name;
  const home = user ? `/home/${user}` : '/root';
  await mkdir(join(ctx.rootfs, home), { recursive: true });
  await writeFile(join(ctx.rootfs, home, '.ota.json'), `${JSON.stringify({ active_version: ctx.request.imageName })}\n`);
  if (user) {
    await run('chroot', [ctx.rootfs, 'chown', `${user}:${user}`, `${home}/.ota.json`], {
      log: ctx.log,
      signal: ctx.signal,
      describe: 'chown .ota.json',
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
  }
}

/** /etc/tailor-image/build.json: what this image is, for people and tools on the machine. */
async function writeBuildRecord(ctx: BuildContext): Promise<void> {
  const { request } = ctx;
  await mkdir(join(ctx.rootfs, 'etc/tailor-image'), { recursive: true });
  const record = {
    image_name: request.imageName,
    name: request.name,
    distribution: request.distribution.codename,
    organization: request.organization,
    release_label: request.releaseLabel,
    release_track: request.releaseTrack,
    flavour: request.flavour,
    timestamp: request.timestamp,
    build_type: ctx.request.recipe.build_type,
  };
  await writeFile(join(ctx.rootfs, 'etc/tailor-image/build.json'), `${JSON.stringify(record, null, 2)}\n`);
}

/** One "name<TAB>version" line per installed package, read from the image's dpkg database. */
async function writeManifest(ctx: BuildContext, path: string): Promise<void> {
  const { stdout } = await run(
    'dpkg-query',
    [`--admindir=${join(ctx.rootfs, 'var/lib/dpkg')}`, '--show', '--showformat=${Package}\\t${Version}\\n'],
    { log: ctx.log, signal: ctx.signal, capture: true, describe: 'dpkg-query (manifest)' },
  );
  const lines = stdout.split('\n').filter(Boolean).sort();
  await writeFile(path, `${lines.join('\n')}\n`);
}

async function removeMatching(dir: string, pattern: RegExp): Promise<void> {
  await removeChildren(dir, (name) => pattern.test(name));
}

async function removeChildren(dir: string, select: (name: string) => boolean): Promise<void> {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    if (select(name)) await rm(join(dir, name), { recursive: true, force: true });
  }
}
