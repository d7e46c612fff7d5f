import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CleanupStack } from '../../lib/builder/cleanup';
import { inodeTimeCommands, inodesInUse, setInodeTimes } from '../../lib/builder/packers/disk/inode-times';
import { PackInput } from '../../lib/builder/packers/packer';
import { deterministicTarFlags, REPRODUCIBLE_PIGZ_ARGS } from '../../lib/builder/packers/reproducible-tar';
import {
  clampPasswordAges, clampShadowText, clampTreeTimes, epochDays, removeUnreproducibleLeftovers,
} from '../../lib/builder/reproducible-tree';
import { Rootfs } from '../../lib/builder/rootfs-path';
import { sourceDateEnv, sourceDateEpoch, unreproducibleParts } from '../../lib/builder/source-date';
import { silentLog } from '../../lib/core/log';

const EPOCH = 1764576000; // 2025-12-01T08:00:00Z
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

let work: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'reproducible-'));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

/** A small tree like a rootfs: directories, files, a link, a file from a package (old mtime). */
function makeTree(dir: string): void {
  mkdirSync(join(dir, 'etc/tailor-image'), { recursive: true });
  mkdirSync(join(dir, 'usr/bin'), { recursive: true });
  writeFileSync(join(dir, 'etc/tailor-image/build.json'), '{"image_name": "x"}\n');
  writeFileSync(join(dir, 'etc/machine-id'), '');
  writeFileSync(join(dir, 'usr/bin/tool'), 'from a package\n', { mode: 0o755 });
  utimesSync(join(dir, 'usr/bin/tool'), 1600000000, 1600000000);
  symlinkSync('/usr/bin/tool', join(dir, 'usr/bin/alias'));
  for (let i = 0; i < 30; i++) writeFileSync(join(dir, 'etc', `f${String(i).padStart(2, '0')}`), `${i}\n`);
}

describe('SOURCE_DATE_EPOCH', () => {
  test('is the build timestamp read as UTC, and reaches the tools as SOURCE_DATE_EPOCH and E2FSPROGS_FAKE_TIME', () => {
    expect(sourceDateEpoch({ timestamp: '20251201.080000' })).toBe(EPOCH);
    expect(sourceDateEnv(EPOCH)).toEqual({ SOURCE_DATE_EPOCH: String(EPOCH), E2FSPROGS_FAKE_TIME: String(EPOCH) });
  });

  test('what cannot be reproduced is named: a cache hit, a password hashed with a random salt; nothing for a cold build', () => {
    expect(unreproducibleParts({ cache: 'off', passwordKind: 'hash' })).toEqual([]);
    expect(unreproducibleParts({ cache: 'miss' })).toEqual([]);
    expect(unreproducibleParts({ cache: 'hit', passwordKind: 'plain' })).toEqual([
      'the base tree came from the bootstrap cache (build with --no-cache)',
      "the user's password is hashed with a random salt (give a crypt(3) hash)",
    ]);
  });
});

describe('the reproducible rootfs', () => {
  test('clampTreeTimes gives what the build wrote the build time and leaves package files (and link targets) alone', () => {
    makeTree(work);
    const changed = clampTreeTimes(work, EPOCH, Math.floor(Date.now() / 1000) - 60);
    expect(changed).toBeGreaterThan(30);
    expect(lstatSync(join(work, 'etc/machine-id')).mtimeMs).toBe(EPOCH * 1000);
    expect(lstatSync(join(work, 'etc')).mtimeMs).toBe(EPOCH * 1000);
    expect(lstatSync(work).mtimeMs).toBe(EPOCH * 1000);
    expect(lstatSync(join(work, 'usr/bin/alias')).mtimeMs).toBe(EPOCH * 1000);
    expect(lstatSync(join(work, 'usr/bin/tool')).mtimeMs).toBe(1600000000 * 1000);
    expect(clampTreeTimes(work, EPOCH, Math.floor(Date.now() / 1000) - 60)).toBe(0);
  });

  test('a timestamp ahead of the clock clamps what this run wrote too', () => {
    makeTree(work);
    const ahead = Math.floor(Date.now() / 1000) + 300;
    clampTreeTimes(work, ahead, Math.floor(Date.now() / 1000) - 60);
    expect(lstatSync(join(work, 'etc/machine-id')).mtimeMs).toBe(ahead * 1000);
    expect(lstatSync(join(work, 'usr/bin/tool')).mtimeMs).toBe(1600000000 * 1000);
  });

  test('password ages later than the build day become the build day; empty, 0 and earlier ones stay', () => {
    const days = epochDays(EPOCH);
    const text = ['root:*:20500:0:99999:7:::', 'daemon:*:19000:0:99999:7:::', 'webapp:!:0::::::', 'nobody:*::::::', ''].join('\n');
    expect(clampShadowText(text, days)).toBe(
      [`root:*:${days}:0:99999:7:::`, 'daemon:*:19000:0:99999:7:::', 'webapp:!:0::::::', 'nobody:*::::::', ''].join('\n'),
    );
  });

  test('clampPasswordAges rewrites /etc/shadow and its backup, keeping the mode', async () => {
    mkdirSync(join(work, 'etc'));
    writeFileSync(join(work, 'etc/shadow'), 'root:*:20500:0:99999:7:::\n', { mode: 0o640 });
    writeFileSync(join(work, 'etc/shadow-'), 'root:*:20499:0:99999:7:::\n', { mode: 0o600 });
    await clampPasswordAges(new Rootfs(work), EPOCH);
    expect(readFileSync(join(work, 'etc/shadow'), 'utf8')).toBe(`root:*:${epochDays(EPOCH)}:0:99999:7:::\n`);
    expect(readFileSync(join(work, 'etc/shadow-'), 'utf8')).toBe(`root:*:${epochDays(EPOCH)}:0:99999:7:::\n`);
    expect(lstatSync(join(work, 'etc/shadow')).mode & 0o777).toBe(0o640);
  });

  test('caches that record the build machine go; the databases they back up stay', async () => {
    for (const dir of ['var/cache/ldconfig', 'var/cache/debconf', 'var/lib/dpkg', 'var/cache/fontconfig']) mkdirSync(join(work, dir), { recursive: true });
    for (const file of ['var/cache/ldconfig/aux-cache', 'var/cache/debconf/config.dat', 'var/cache/debconf/config.dat-old',
      'var/lib/dpkg/status', 'var/lib/dpkg/status-old', 'var/lib/dpkg/diversions-old', 'var/cache/fontconfig/x.cache-8']) {
      writeFileSync(join(work, file), 'x');
    }
    await removeUnreproducibleLeftovers(new Rootfs(work));
    const present = (file: string) => lstatSync(join(work, file), { throwIfNoEntry: false }) !== undefined;
    expect(['var/cache/ldconfig/aux-cache', 'var/cache/debconf/config.dat-old', 'var/lib/dpkg/status-old',
      'var/lib/dpkg/diversions-old', 'var/cache/fontconfig/x.cache-8'].filter(present)).toEqual([]);
    expect(['var/cache/debconf/config.dat', 'var/lib/dpkg/status'].filter(present)).toHaveLength(2);
  });
});

describe('deterministic tar and gzip', () => {
  test('two trees made at different times, in a different order, give the same .tar.gz', () => {
    const archives = [0, 1].map((n) => {
      const dir = join(work, `tree${n}`, 'rootfs');
      mkdirSync(dir, { recursive: true });
      makeTree(dir);
      if (n === 1) writeFileSync(join(dir, 'etc/f00'), '0\n'); // rewritten: another ctime and inode order
      clampTreeTimes(dir, EPOCH, Math.floor(Date.now() / 1000) - 60);
      const out = join(work, `image${n}.tar.gz`);
      execFileSync('tar', ['--create', `--file=${out}`, `--use-compress-program=pigz ${REPRODUCIBLE_PIGZ_ARGS.join(' ')} -p ${n + 1}`,
        ...deterministicTarFlags(EPOCH, { xattrs: 'all' }), '--directory', join(work, `tree${n}`), 'rootfs']);
      return out;
    });
    expect(sha256(archives[1])).toBe(sha256(archives[0]));
    const listing = execFileSync('tar', ['--list', '--verbose', '--full-time', '--file', archives[0]], { env: { ...process.env, TZ: 'UTC' } }).toString();
    expect(listing).not.toMatch(/PaxHeaders\.\d/);
    // The build's files carry the build time, the package's file its own (2020-09-13).
    const dates = new Set(listing.split('\n').filter(Boolean).map((line) => /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/.exec(line)?.[0]));
    expect([...dates].sort()).toEqual(['2020-09-13 12:26:40', '2025-12-01 08:00:00']);
  });
});

describe('ext4 inode times', () => {
  const log = silentLog;

  test('inodesInUse reads the groups of dumpe2fs output (the root and files, not the reserved inodes)', () => {
    const output = ['Inodes per group:         16', '', 'Group 0: (Blocks 1-8192)', '  Free inodes: 14-16',
      'Group 1: (Blocks 8193-16384)', '  Free inodes: 17-20, 23-32', 'Group 2: (Blocks 16385-24576)', '  Free inodes: '].join('\n');
    const group2 = Array.from({ length: 16 }, (_, i) => 33 + i);
    expect(inodesInUse(output)).toEqual([2, 11, 12, 13, 21, 22, ...group2]);
    expect(inodeTimeCommands([2, 11], EPOCH)).toBe(`sif <2> atime @${EPOCH}\nsif <2> ctime @${EPOCH}\nsif <11> atime @${EPOCH}\nsif <11> ctime @${EPOCH}\n`);
  });

  test('mkfs.ext4 -d of one tree at two moments (other ctimes and atimes) gives the same filesystem once the times are set', async () => {
    const tree = join(work, 'tree');
    mkdirSync(tree);
    makeTree(tree);
    const images: string[] = [];
    for (const n of [0, 1]) {
      if (n === 1) writeFileSync(join(tree, 'etc/f01'), '1\n'); // same bytes, a new ctime
      clampTreeTimes(tree, EPOCH, Math.floor(Date.now() / 1000) - 60);
      const raw = join(work, `disk${n}.raw`);
      writeFileSync(raw, '');
      execFileSync('truncate', ['-s', '40M', raw]);
      const offset = 1024 * 1024;
      execFileSync('mkfs.ext4', ['-F', '-q', '-U', '0b0b0b0b-1111-4222-8333-444444444444', '-E', `offset=${offset},nodiscard,hash_seed=0b0b0b0b-1111-4222-8333-444444444444`,
        '-d', tree, raw, '32768k'], { env: { ...process.env, ...sourceDateEnv(EPOCH) } });
      const input = { log, signal: new AbortController().signal, scratchDir: work, cleanups: new CleanupStack() } as unknown as PackInput;
      expect(await setInodeTimes(input, raw, offset, EPOCH)).toBeGreaterThan(35);
      images.push(raw);
      if (n === 0) await new Promise((resolve) => setTimeout(resolve, 1100));
    }
    expect(sha256(images[1])).toBe(sha256(images[0]));
    const stat = execFileSync('debugfs', ['-R', 'stat /etc/f01', `${images[0]}?offset=${1024 * 1024}`], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    const hex = `0x${EPOCH.toString(16)}`;
    for (const field of ['ctime', 'atime', 'mtime', 'crtime']) expect(stat).toMatch(new RegExp(`${field}: ${hex}`));
  }, 30000);
});
