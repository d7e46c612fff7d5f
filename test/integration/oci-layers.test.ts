import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CleanupStack } from '../../lib/builder/cleanup';
import { mountOverlayRootfs } from '../../lib/builder/overlay';
import { baseLayer } from '../../lib/builder/packers/oci/base-layer';
import { writeChangesLayer } from '../../lib/builder/packers/oci/changes-layer';
import { BuildLog } from '../../lib/core/log';
import { describeWith, rootUser, tool } from '../support/prereq';

const quiet: BuildLog = { stageStart() {}, stageEnd() {}, info() {}, warn() {}, debug() {} };
const options = { log: quiet, signal: new AbortController().signal };

/** `tar -tvzf` of a layer: "type name" per entry (type from the mode column), names without "./". */
function entries(file: string): string[] {
  return execFileSync('tar', ['-tvzf', file], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const fields = line.split(/\s+/);
      return `${line[0]} ${fields.slice(5).join(' ').replace(/^\.\//, '')}`;
    });
}

/** A small "bootstrapped" tree holding what finalize removes, beside what it keeps. */
function makeBase(root: string): void {
  const file = (path: string, text = 'x\n') => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  file('etc/hostname', 'buildhost\n');
  file('etc/resolv.conf', 'nameserver 10.0.0.1\n');
  file('etc/machine-id', '0123456789abcdef0123456789abcdef\n');
  file('etc/ssh/ssh_host_ed25519_key', 'PRIVATE\n');
  file('etc/ssh/ssh_config');
  file('var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease');
  mkdirSync(join(root, 'var/lib/apt/lists/partial'), { recursive: true });
  file('var/log/dpkg.log');
  file('var/log/apt/history.log');
  file('var/cache/apt/pkgcache.bin');
  file('tmp/leftover');
  file('usr/share/doc/pkg/copyright');
  file('usr/share/keep/a');
  file('usr/share/replaced/old');
  file('usr/share/removed');
  for (const dir of ['dev', 'proc', 'sys', 'run']) mkdirSync(join(root, dir), { recursive: true });
  file('var/lib/dpkg/status');
  utimesSync(join(root, 'var/lib/dpkg/status'), 1767268800, 1767268800);
}

describeWith('container layers from an overlay: a finalized shared base and the changes with whiteouts', [rootUser(), tool('getfattr', 'attr'), tool('pigz')], () => {
  const work = mkdtempSync(join('/var/tmp', 'tailor-test-layers-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  test('the base layer holds nothing finalize removes, is the same blob when made again, and the changes layer says what was removed', async () => {
    const base = join(work, 'base');
    makeBase(base);
    const scratch = join(work, 'scratch');
    await mkdir(scratch, { recursive: true });
    const first = await baseLayer(base, join(work, 'cache', 'key'), scratch, options);
    const listed = entries(first.file).map((entry) => entry.slice(2));
    for (const gone of [
      'etc/hostname', 'etc/ssh/ssh_host_ed25519_key', 'var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease',
      'var/log/dpkg.log', 'var/log/apt/history.log', 'var/cache/apt/pkgcache.bin', 'tmp/leftover',
    ]) expect(listed).not.toContain(gone);
    expect(listed).toEqual(expect.arrayContaining(['etc/ssh/ssh_config', 'usr/share/doc/pkg/copyright', 'var/lib/apt/lists/partial/']));
    expect(execFileSync('tar', ['-xzOf', first.file, './etc/machine-id'], { encoding: 'utf8' })).toBe('');
    expect(execFileSync('tar', ['-xzOf', first.file, './etc/resolv.conf'], { encoding: 'utf8' })).toBe('');
    // The tree was not written.
    expect(execFileSync('cat', [join(base, 'etc/hostname')], { encoding: 'utf8' })).toBe('buildhost\n');

    // Kept: reused as it is; made again from the same tree (kept layer gone): the same bytes.
    const again = await baseLayer(base, join(work, 'cache', 'key'), scratch, options);
    expect(again).toEqual(first);
    const remade = await baseLayer(base, join(work, 'other-cache', 'key'), scratch, options);
    expect(remade.digest).toBe(first.digest);
    expect(remade.diffId).toBe(first.diffId);

    // A build's overlay: a file removed, a directory replaced (opaque), a file added.
    const build = join(work, 'build');
    const cleanups = new CleanupStack();
    const { rootfs, upper } = await mountOverlayRootfs(base, build, { ...options, cleanups, keep: false });
    try {
      await rm(join(rootfs, 'usr/share/removed'));
      await rm(join(rootfs, 'usr/share/replaced'), { recursive: true });
      await mkdir(join(rootfs, 'usr/share/replaced'));
      await writeFile(join(rootfs, 'usr/share/replaced/new'), 'new\n');
      await writeFile(join(rootfs, 'etc/added'), 'added\n');
      await symlink('/nonexistent', join(rootfs, 'etc/dangling'));
      const changes = await writeChangesLayer(upper!, join(work, 'changes.tar.gz'), 1767268800, scratch, options);
      expect(changes).toBeDefined();
      const names = entries(join(work, 'changes.tar.gz'));
      expect(names).toEqual(expect.arrayContaining([
        '- usr/share/.wh.removed', '- usr/share/replaced/.wh..wh..opq', '- usr/share/replaced/new', '- etc/added', 'l etc/dangling -> /nonexistent',
      ]));
      expect(names.filter((name) => name.startsWith('c '))).toEqual([]);
      expect(names.some((name) => name.includes('usr/share/keep'))).toBe(false);
      // Made again: the same bytes.
      const twice = await writeChangesLayer(upper!, join(work, 'changes2.tar.gz'), 1767268800, scratch, options);
      expect(twice).toEqual(changes);

      // A hostile recipe's link named like the whiteout marker: refused, never written through.
      const hostFile = join(work, 'host-file');
      await writeFile(hostFile, 'host\n');
      await symlink(hostFile, join(rootfs, 'usr/share/.wh.removed'));
      await expect(writeChangesLayer(upper!, join(work, 'changes3.tar.gz'), 1767268800, scratch, options)).rejects.toThrow(
        /^the image holds "\.wh\.removed" where the container layer needs its own marker/,
      );
      expect(execFileSync('cat', [hostFile], { encoding: 'utf8' })).toBe('host\n');
    } finally {
      await cleanups.runAll(quiet);
    }
  });
});
