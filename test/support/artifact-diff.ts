import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * What differs between two artifacts that should have been bit-identical, as lines a person
 * can act on: the files (path, type, mode, owner, mtime, size, content hash) of two tarballs
 * or of two disks' root filesystems, and which parts of two disks hold the differing bytes.
 */

const MAX_LINES = 60;
const BIG = 1 << 30;

/** sha256 of a file, or of the bytes a shell pipeline prints (e.g. xz -dc). */
export function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

export function sha256OfDecompressed(xzFile: string): string {
  return execFileSync('sh', ['-c', 'xz -dc -T0 -- "$1" | sha256sum', 'sh', xzFile], { maxBuffer: 1 << 20 }).toString().split(' ')[0];
}

/** Every entry below `dir`: relative path -> "type mode uid:gid mtime size hash-or-target". */
export function treeEntries(dir: string): Map<string, string> {
  const entries = new Map<string, string>();
  const visit = (relative: string) => {
    const path = join(dir, relative);
    const stats = lstatSync(path);
    const type = stats.isDirectory() ? 'dir' : stats.isSymbolicLink() ? 'link' : stats.isFile() ? 'file' : 'other';
    const content = stats.isFile()
      ? createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16)
      : stats.isSymbolicLink() ? `-> ${readlinkSync(path)}` : '';
    if (relative) entries.set(relative, `${type} ${(stats.mode & 0o7777).toString(8)} ${stats.uid}:${stats.gid} ` +
      `${new Date(stats.mtimeMs).toISOString()} ${stats.isDirectory() ? '' : stats.size} ${content}`.trim());
    if (stats.isDirectory()) for (const name of readdirSync(path).sort()) visit(relative ? `${relative}/${name}` : name);
  };
  visit('');
  return entries;
}

/** The entries that are missing on one side or differ, one line each (at most MAX_LINES). */
export function diffTrees(a: string, b: string): string[] {
  const left = treeEntries(a);
  const right = treeEntries(b);
  const lines: string[] = [];
  for (const path of [...new Set([...left.keys(), ...right.keys()])].sort()) {
    const [x, y] = [left.get(path), right.get(path)];
    if (x === y) continue;
    lines.push(`${path}: ${x ?? '(missing)'}  vs  ${y ?? '(missing)'}`);
  }
  return cut(lines);
}

/** Unpacks two tarballs (any compression tar reads) and diffs their trees. */
export function diffTarballs(a: string, b: string, label: string): string[] {
  const work = mkdtempSync(join(tmpdir(), 'artifact-diff-'));
  try {
    const dirs = [a, b].map((tarball, n) => {
      const dir = join(work, String(n));
      mkdirSync(dir);
      execFileSync('tar', ['-xf', tarball, '-C', dir, '--numeric-owner'], { stdio: 'pipe', maxBuffer: BIG });
      return dir;
    });
    const lines = diffTrees(dirs[0], dirs[1]);
    return lines.length > 0 ? lines.map((line) => `${label}: ${line}`) : [`${label}: the files are equal; ${firstHeaderDifference(a, b)}`];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The tar members of an archive with the bytes of their headers (PAX records included) and data. */
function tarMembers(tarball: string): { name: string; bytes: Buffer }[] {
  const tar = execFileSync('sh', ['-c', 'gzip -dc -f -- "$1"', 'sh', tarball], { maxBuffer: 8 * BIG });
  const members: { name: string; bytes: Buffer }[] = [];
  let offset = 0;
  let start = 0;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break;
    const name = header.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
    const size = parseInt(header.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
    const type = String.fromCharCode(header[156]);
    offset += 512 + Math.ceil(size / 512) * 512;
    // A PAX header ('x') or GNU long name ('L') belongs to the member that follows it.
    if (type === 'x' || type === 'L' || type === 'g') continue;
    members.push({ name, bytes: tar.subarray(start, offset) });
    start = offset;
  }
  return members;
}

/** The first member whose header or data differ between two tarballs (what a tree diff cannot see). */
function firstHeaderDifference(a: string, b: string): string {
  const [left, right] = [tarMembers(a), tarMembers(b)];
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const [x, y] = [left[i], right[i]];
    if (!x || !y) return `one archive ends after ${i} members`;
    if (x.name !== y.name) return `member ${i} is ${x.name} in one and ${y.name} in the other (order)`;
    if (!x.bytes.equals(y.bytes)) {
      const at = x.bytes.findIndex((byte, n) => byte !== y.bytes[n]);
      const context = (bytes: Buffer) => JSON.stringify(bytes.subarray(Math.max(0, at - 40), at + 40).toString('latin1').replace(/\0/g, '.'));
      return `member ${x.name} differs at byte ${at} of its headers and data: ${context(x.bytes)} vs ${context(y.bytes)}`;
    }
  }
  return 'the tar streams are equal (the compression differs)';
}

interface DiskPartition {
  node: string;
  start: number;
  size: number;
}

function partitions(raw: string): DiskPartition[] {
  const table = JSON.parse(execFileSync('sfdisk', ['--json', raw]).toString()) as { partitiontable: { partitions: DiskPartition[] } };
  return table.partitiontable.partitions;
}

/**
 * Where two raw disks differ (in MiB blocks, named by partition), then the root
 * filesystems' trees (debugfs rdump of the last partition, read-only, no mount).
 */
export function diffDisks(xzA: string, xzB: string, label: string): string[] {
  const work = mkdtempSync(join(tmpdir(), 'disk-diff-'));
  try {
    const raws = [xzA, xzB].map((file, n) => {
      const raw = join(work, `${n}.raw`);
      execFileSync('sh', ['-c', 'xz -dc -T0 -- "$1" | cp --sparse=always /dev/stdin "$2"', 'sh', file, raw]);
      return raw;
    });
    const parts = partitions(raws[0]);
    const where = (offset: number) => {
      const sector = Math.floor(offset / 512);
      const part = parts.find((p) => sector >= p.start && sector < p.start + p.size);
      return part ? `${part.node.replace(/.*raw/, 'partition ')} +${((sector - part.start) * 512 / 2 ** 20).toFixed(2)} MiB` : `sector ${sector} (outside partitions)`;
    };
    const cmp = execFileSync('sh', ['-c', 'cmp -l -- "$1" "$2" | head -n 200000 || true', 'sh', raws[0], raws[1]], { maxBuffer: BIG }).toString();
    const blocks = new Map<number, number>();
    for (const line of cmp.split('\n').filter(Boolean)) {
      const block = Math.floor((Number(line.trim().split(/\s+/)[0]) - 1) / 4096);
      blocks.set(block, (blocks.get(block) ?? 0) + 1);
    }
    const lines = [...blocks].slice(0, 20).map(([block, count]) => `${label}: ${count} bytes differ in 4 KiB block ${block} (${where(block * 4096)})`);
    const root = parts.at(-1)!;
    const trees = raws.map((raw, n) => {
      const dir = join(work, `tree${n}`);
      mkdirSync(dir);
      execFileSync('debugfs', ['-R', `rdump / ${dir}`, `${raw}?offset=${root.start * 512}`], { stdio: 'pipe', maxBuffer: BIG });
      return dir;
    });
    lines.push(...diffTrees(trees[0], trees[1]).map((line) => `${label} root filesystem: ${line}`));
    return cut(lines);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function cut(lines: string[]): string[] {
  return lines.length > MAX_LINES ? [...lines.slice(0, MAX_LINES), `... and ${lines.length - MAX_LINES} more`] : lines;
}
