import { Rootfs } from './rootfs-path';

/**
 * Removes from a tree what must not be copied to many machines: the machine id (left
 * empty), ssh host keys, apt lists and caches, temporary files, install logs, and the
 * build host's resolver. Used by finalize on every image, and on the shared base before
 * it becomes a container layer of its own (so that layer carries none of it either).
 */
export async function scrubMachineState(image: Rootfs): Promise<void> {
  await image.writeFile('/etc/machine-id', '');
  if (image.lstat('/var/lib/dbus/machine-id')?.isFile()) await image.remove('/var/lib/dbus/machine-id');

  await image.removeChildren('/etc/ssh', (name) => /^ssh_host_.*key(\.pub)?$/.test(name));

  await image.removeChildren('/var/lib/apt/lists', (name) => name !== 'partial' && name !== 'lock');
  await image.removeChildren('/var/cache/apt', (name) => name.endsWith('.bin'));
  await image.removeChildren('/var/cache/apt/archives', (name) => name.endsWith('.deb'));
  await image.removeChildren('/tmp');
  await image.removeChildren('/var/tmp');
  await image.removeChildren('/var/log/apt');
  for (const log of ['/var/log/dpkg.log', '/var/log/alternatives.log', '/var/log/bootstrap.log']) await image.remove(log);

  // mmdebstrap copied the build host's resolver; it does not belong in the image.
  if (image.exists('/lib/systemd/systemd-resolved') || image.exists('/usr/lib/systemd/systemd-resolved')) {
    await image.symlink('../run/systemd/resolve/stub-resolv.conf', '/etc/resolv.conf');
  } else {
    await image.writeFile('/etc/resolv.conf', '', { mode: 0o644 });
  }
}
