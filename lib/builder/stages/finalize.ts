import { writeFile } from 'node:fs/promises';
import { BuildContext, Stage } from '../context';
import { run } from '../../core/exec';
import { CHROOT_ENV, hostToolEnv } from '../command-env';
import { hostnameOf } from '../hostname';
import { clampPasswordAges, clampTreeTimes, removeUnreproducibleLeftovers } from '../reproducible-tree';
import { Rootfs } from '../rootfs-path';
import { scrubMachineState } from '../scrub';
import { sourceDateEpoch } from '../source-date';

/** When this builder process started (seconds since the epoch): everything the run wrote is newer. */
function runStartSeconds(): number {
  return Math.floor(Date.now() / 1000 - process.uptime());
}

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
 * files; record the image name in ~/.ota.json and the package manifest; then make the tree
 * reproducible (lib/builder/reproducible-tree.ts): no build-machine caches, password ages and
 * file times no later than SOURCE_DATE_EPOCH.
 */
export const finalizeStage: Stage = {
  name: 'finalize',

  describe: () => 'machine-id, ssh keys, apt lists, manifest, file times',

  verify() {
    // Nothing to check: everything it runs is in the rootfs or in coreutils.
  },

  async run(ctx) {
    const image = new Rootfs(ctx.rootfs);
    const chroot = ctx.chroot!;
    await chroot.run(['apt-get', 'clean'], { describe: 'apt-get clean' });
    await ctx.chroot!.unmount();

    await scrubMachineState(image);
    if (image.exists('/usr/bin/ssh-keygen') && image.exists('/etc/ssh/sshd_config')) await installFirstBootKeygen(image);
    // mmdebstrap copied the build host's name too.
    await image.writeFile('/etc/hostname', `${hostnameOf(ctx.request.recipe)}\n`);

    await writeOtaFile(ctx);
    await writeBuildRecord(ctx);
    await writeManifest(ctx, ctx.manifestPath);

    // Last: nothing writes into the tree after this (packers only read it).
    const epoch = sourceDateEpoch(ctx.request);
    await removeUnreproducibleLeftovers(image);
    await clampPasswordAges(image, epoch);
    const clamped = clampTreeTimes(image.root, epoch, runStartSeconds());
    ctx.log.debug(`file times: ${clamped} entries set to SOURCE_DATE_EPOCH ${epoch}`);
  },
};

async function installFirstBootKeygen(image: Rootfs): Promise<void> {
  await image.writeFile('/etc/systemd/system/tailor-ssh-keygen.service', SSH_KEYGEN_UNIT, { mode: 0o644 });
  await image.symlink('/etc/systemd/system/tailor-ssh-keygen.service', '/etc/systemd/system/multi-user.target.wants/tailor-ssh-keygen.service');
}

/** `/home/<user>/.ota.json` = {"active_version": "<image_name>"}, owned by the user. */
async function writeOtaFile(ctx: BuildContext): Promise<void> {
  const user = ctx.request.recipe.user?.name;
  const home = user ? `/home/${user}` : '/root';
  const image = new Rootfs(ctx.rootfs);
  await image.mkdirp(home);
  await image.writeFile(`${home}/.ota.json`, `${JSON.stringify({ active_version: ctx.request.imageName })}\n`, { mode: 0o644 });
  if (user) {
    await run('chroot', [ctx.rootfs, 'chown', '--no-dereference', `${user}:${user}`, `${home}/.ota.json`], {
      log: ctx.log,
      signal: ctx.signal,
      describe: 'chown .ota.json',
      env: { ...CHROOT_ENV },
    });
  }
}

/** /etc/tailor-image/build.json: what this image is, for people and tools on the machine. */
async function writeBuildRecord(ctx: BuildContext): Promise<void> {
  const { request } = ctx;
  const record = {
    image_name: request.imageName,
    name: request.name,
    distribution: request.distribution.codename,
    architecture: request.architecture,
    organization: request.organization,
    release_label: request.releaseLabel,
    release_track: request.releaseTrack,
    flavour: request.flavour,
    timestamp: request.timestamp,
    build_type: ctx.request.recipe.build_type,
  };
  await new Rootfs(ctx.rootfs).writeFile('/etc/tailor-image/build.json', `${JSON.stringify(record, null, 2)}\n`, { mode: 0o644 });
}

/** One "name<TAB>version" line per installed package, read from the image's dpkg database. */
async function writeManifest(ctx: BuildContext, path: string): Promise<void> {
  const { stdout } = await run(
    'dpkg-query',
    [`--admindir=${new Rootfs(ctx.rootfs).resolve('/var/lib/dpkg')}`, '--show', '--showformat=${Package}\\t${Version}\\n'],
    { log: ctx.log, signal: ctx.signal, capture: true, env: hostToolEnv(), describe: 'dpkg-query (manifest)' },
  );
  const lines = stdout.split('\n').filter(Boolean).sort();
  await writeFile(path, `${lines.join('\n')}\n`);
}
