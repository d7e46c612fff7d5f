import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildError } from '../../lib/core/errors';
import { MAX_LINK_HOPS, Rootfs } from '../../lib/builder/rootfs-path';
import { pathFingerprint } from '../support/tree';

/**
 * A rootfs and, beside it, "host" files that the rootfs's absolute links name by their
 * real host paths, as tzdata's /etc/localtime names /usr/share/zoneinfo/Etc/UTC. Nothing
 * outside the rootfs may change, whatever the operation.
 */
describe('Rootfs: host-side paths resolve inside the rootfs as in a chroot', () => {
  let dir: string;
  let root: string;
  let host: string;
  let image: Rootfs;
  let before: string;
  const inRoot = (path: string) => join(root, path);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rootfs-path-'));
    root = join(dir, 'rootfs');
    host = join(dir, 'host');
    mkdirSync(join(host, 'zoneinfo'), { recursive: true });
    mkdirSync(join(host, 'tmp'));
    mkdirSync(join(host, 'ssh'));
    writeFileSync(join(host, 'zoneinfo', 'UTC'), 'host zone\n');
    writeFileSync(join(host, 'tmp', 'host-file'), 'host tmp\n');
    writeFileSync(join(host, 'ssh', 'ssh_host_ed25519_key'), 'host key\n');
    chmodSync(join(host, 'zoneinfo', 'UTC'), 0o644);
    for (const sub of ['etc', 'var', 'usr/lib', `${host.slice(1)}/zoneinfo`]) mkdirSync(join(root, sub), { recursive: true });
    writeFileSync(join(root, host.slice(1), 'zoneinfo', 'UTC'), 'image zone\n');
    writeFileSync(join(root, 'usr/lib/os-release'), 'PRETTY_NAME="Test"\n');
    // Absolute links naming host paths, a relative one, a link to a link.
    symlinkSync(join(host, 'zoneinfo', 'UTC'), join(root, 'etc/localtime'));
    symlinkSync(join(host, 'tmp'), join(root, 'var/tmp'));
    symlinkSync(join(host, 'ssh'), join(root, 'etc/ssh'));
    symlinkSync('../usr/lib/os-release', join(root, 'etc/os-release'));
    symlinkSync('/etc/os-release', join(root, 'etc/release-link'));
    image = new Rootfs(root);
    before = pathFingerprint(host);
  });

  afterEach(() => {
    // Nothing any test did reached the host side.
    expect(pathFingerprint(host)).toBe(before);
    rmSync(dir, { recursive: true, force: true });
  });

  test('".." stops at the root: a climbing path is written inside the rootfs', async () => {
    expect(image.resolve('/../../../host/x')).toBe(inRoot('host/x'));
    expect(image.resolve('etc/../../..')).toBe(root);
    await image.writeFile(`/../../..${host}/tmp/host-file`, 'recipe\n');
    expect(readFileSync(join(root, host.slice(1), 'tmp', 'host-file'), 'utf8')).toBe('recipe\n');
  });

  test('an absolute link is taken from the rootfs root, also in the middle of a path', async () => {
    expect(image.resolve('/var/tmp/file')).toBe(join(root, host.slice(1), 'tmp', 'file'));
    await image.writeFile('/var/tmp/file', 'in the image\n');
    expect(readFileSync(join(root, host.slice(1), 'tmp', 'file'), 'utf8')).toBe('in the image\n');
    await image.mkdirp('/var/tmp/a/b');
    expect(statSync(join(root, host.slice(1), 'tmp', 'a', 'b')).isDirectory()).toBe(true);
  });

  test('relative links, links to links, and relative links climbing above the root', async () => {
    expect(await image.readFile('/etc/os-release', 'utf8')).toBe('PRETTY_NAME="Test"\n');
    expect(await image.readFile('/etc/release-link', 'utf8')).toBe('PRETTY_NAME="Test"\n');
    symlinkSync('../../../../../../../../../../..', join(root, 'etc/up'));
    expect(image.resolve('/etc/up/usr/lib/os-release')).toBe(inRoot('usr/lib/os-release'));
    symlinkSync(`../../..${host}/zoneinfo/UTC`, join(root, 'etc/relative-zone'));
    expect(await image.readFile('/etc/relative-zone', 'utf8')).toBe('image zone\n');
  });

  test('a loop of links is a clear BuildError, not a hang', () => {
    symlinkSync('/loop-b', join(root, 'loop-a'));
    symlinkSync('loop-a', join(root, 'loop-b'));
    symlinkSync('self', join(root, 'self'));
    expect(() => image.resolve('/loop-a/x')).toThrow(BuildError);
    expect(() => image.resolve('/loop-a/x')).toThrow('/loop-a/x in the image: too many levels of symbolic links (a loop?)');
    expect(() => image.resolve('/self')).toThrow(/too many levels/);
    // Not followed, a final link in a loop is just a link.
    expect(image.resolve('/self', { followFinal: false })).toBe(inRoot('self'));
  });

  test(`a chain of ${MAX_LINK_HOPS} links resolves; one more is refused`, () => {
    writeFileSync(join(root, 'end'), 'end\n');
    symlinkSync('/end', join(root, 'chain0'));
    for (let i = 1; i <= MAX_LINK_HOPS; i++) symlinkSync(`chain${i - 1}`, join(root, `chain${i}`));
    expect(image.resolve(`/chain${MAX_LINK_HOPS - 1}`)).toBe(inRoot('end'));
    expect(() => image.resolve(`/chain${MAX_LINK_HOPS}`)).toThrow(/too many levels/);
  });

  test('removing a final link removes the link, never its target', async () => {
    await image.remove('/etc/localtime');
    expect(existsSync(inRoot('etc/localtime'))).toBe(false);
    expect(readFileSync(join(root, host.slice(1), 'zoneinfo', 'UTC'), 'utf8')).toBe('image zone\n');
    await image.remove('/etc/release-link');
    expect(existsSync(inRoot('usr/lib/os-release'))).toBe(true);
    await image.remove('/etc/missing');
  });

  test('writing where a final link is replaces the link with the file (the target is not written)', async () => {
    await image.writeFile('/etc/localtime', 'recipe zone\n', { mode: 0o640 });
    const stats = lstatSync(inRoot('etc/localtime'));
    expect(stats.isFile()).toBe(true);
    expect(stats.mode & 0o7777).toBe(0o640);
    expect(readFileSync(inRoot('etc/localtime'), 'utf8')).toBe('recipe zone\n');
    expect(readFileSync(join(root, host.slice(1), 'zoneinfo', 'UTC'), 'utf8')).toBe('image zone\n');
    // A dangling absolute link is replaced the same way.
    symlinkSync('/nowhere/at/all', join(root, 'etc/dangling'));
    await image.writeFile('/etc/dangling', 'x');
    expect(lstatSync(inRoot('etc/dangling')).isFile()).toBe(true);
  });

  test('copyIn and symlink replace a final link too; writeFile keeps a replaced file\'s mode', async () => {
    const source = join(dir, 'source');
    writeFileSync(source, 'copied\n');
    await image.copyIn(source, '/etc/ssh', { mode: 0o600 });
    expect(lstatSync(inRoot('etc/ssh')).isFile()).toBe(true);
    expect(readFileSync(inRoot('etc/ssh'), 'utf8')).toBe('copied\n');
    await image.symlink('../usr/lib/os-release', '/etc/localtime');
    expect(readlinkSync(inRoot('etc/localtime'))).toBe('../usr/lib/os-release');
    writeFileSync(inRoot('etc/kept'), 'old');
    chmodSync(inRoot('etc/kept'), 0o444);
    await image.writeFile('/etc/kept', 'new');
    expect(statSync(inRoot('etc/kept')).mode & 0o7777).toBe(0o444);
  });

  test('chmod, mkdir and listing follow a final link inside the rootfs', async () => {
    await image.chmod('/etc/localtime', 0o600);
    expect(statSync(join(root, host.slice(1), 'zoneinfo', 'UTC')).mode & 0o777).toBe(0o600);
    expect(image.list('/etc/ssh')).toEqual([]);
    mkdirSync(join(root, host.slice(1), 'ssh'));
    writeFileSync(join(root, host.slice(1), 'ssh', 'ssh_host_rsa_key'), 'image key');
    expect(image.list('/etc/ssh')).toEqual(['ssh_host_rsa_key']);
    symlinkSync('/srv/made-by-mkdir', join(root, 'made'));
    await image.mkdirp('/made');
    expect(statSync(inRoot('srv/made-by-mkdir')).isDirectory()).toBe(true);
  });

  test('removeChildren through a linked directory empties the image\'s target, and links inside are removed, not followed', async () => {
    const imageTmp = join(root, host.slice(1), 'tmp');
    mkdirSync(imageTmp, { recursive: true });
    writeFileSync(join(imageTmp, 'junk'), 'junk');
    mkdirSync(join(imageTmp, 'sub'));
    symlinkSync(join(host, 'ssh'), join(imageTmp, 'sub', 'to-host-ssh'));
    await image.removeChildren('/var/tmp');
    expect(image.list('/var/tmp')).toEqual([]);
    expect(lstatSync(inRoot('var/tmp')).isSymbolicLink()).toBe(true);
    await image.removeChildren('/etc/ssh', (name) => name.startsWith('ssh_host_'));
    await image.removeChildren('/no/such/dir');
  });

  test('a path through a file, the root itself, or a directory in the way are refused', async () => {
    writeFileSync(inRoot('etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
    expect(() => image.resolve('/etc/passwd/x')).toThrow('/etc/passwd/x in the image: /etc/passwd is not a directory');
    await expect(image.remove('/')).rejects.toThrow(/refusing to remove the root/);
    await expect(image.remove('/etc/..')).rejects.toThrow(/refusing to remove the root/);
    await expect(image.writeFile('/etc', 'x')).rejects.toThrow('cannot write /etc in the image: a directory is in the way');
    expect(image.list('/etc').filter((name) => name.includes('.tailor-'))).toEqual([]);
  });

  test('exists and lstat', () => {
    expect(image.exists('/etc/localtime')).toBe(true);
    expect(image.lstat('/etc/localtime')?.isSymbolicLink()).toBe(true);
    expect(image.exists('/var/tmp/host-file')).toBe(false);
    expect(image.lstat('/nothing')).toBeUndefined();
  });
});
