import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function fileDigests(path: string): { md5: string; sha256: string } {
  const data = readFileSync(path);
  return {
    md5: createHash('md5').update(data).digest('hex'),
    sha256: createHash('sha256').update(data).digest('hex'),
  };
}

/** Unpacks a tarball (any compression tar knows) into a new temp dir and returns it. */
export function unpack(tarball: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'unpacked-'));
  execFileSync('tar', ['-xf', tarball, '-C', dir, '--numeric-owner'], { stdio: 'pipe' });
  return dir;
}

/** Files below `dir` whose contents hold `needle` (grep -rlF), as paths relative to dir. */
export function filesContaining(dir: string, needle: string): string[] {
  try {
    const out = execFileSync('grep', ['-rlF', '--no-messages', '--', needle, '.'], { cwd: dir, maxBuffer: 64 << 20 });
    return out.toString().split('\n').filter(Boolean);
  } catch (error) {
    if ((error as { status?: number }).status === 1) return [];
    throw error;
  }
}

/** Names of entries below `dir` (find), relative to it, matching `pattern`. */
export function namesMatching(dir: string, pattern: RegExp): string[] {
  const out = execFileSync('find', ['.', '-print'], { cwd: dir, maxBuffer: 256 << 20 }).toString();
  return out.split('\n').filter((line) => pattern.test(line));
}

/** Installed packages (and versions) in an unpacked rootfs's dpkg status. */
export function installedPackages(rootfs: string): Map<string, string> {
  const status = readFileSync(join(rootfs, 'var/lib/dpkg/status'), 'utf8');
  const installed = new Map<string, string>();
  for (const stanza of status.split('\n\n')) {
    const name = /^Package: (.+)$/m.exec(stanza)?.[1];
    const version = /^Version: (.+)$/m.exec(stanza)?.[1];
    if (name && version && /^Status: install ok installed$/m.test(stanza)) installed.set(name, version);
  }
  return installed;
}

/**
 * What a host path is, to compare before and after: for it and every entry below it (links
 * not followed), the type, mode, owner, size and content digest or link target. "absent"
 * when it does not exist.
 */
export function pathFingerprint(path: string): string {
  const lines: string[] = [];
  const visit = (entry: string, name: string) => {
    let stats;
    try {
      stats = lstatSync(entry);
    } catch {
      lines.push(`${name} absent`);
      return;
    }
    const head = `${name} ${stats.mode.toString(8)} ${stats.uid}:${stats.gid}`;
    if (stats.isSymbolicLink()) lines.push(`${head} -> ${readlinkSync(entry)}`);
    else if (stats.isFile()) lines.push(`${head} ${stats.size} ${createHash('sha256').update(readFileSync(entry)).digest('hex')}`);
    else if (stats.isDirectory()) {
      lines.push(`${head} dir`);
      for (const child of readdirSync(entry).sort()) visit(join(entry, child), `${name}/${child}`);
    } else lines.push(`${head} special`);
  };
  visit(path, '.');
  return lines.join('\n');
}
