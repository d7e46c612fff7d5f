import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { digestFile } from './digest';
import { run } from './exec';
import { BuildLog } from './log';

/** Bump when what an entry holds changes shape, so old entries are never read. */
const CACHE_FORMAT = 1;

/** Everything that decides what mmdebstrap produces. Same inputs, same key. */
export interface BootstrapKeyInput {
  toolVersion: string;
  mmdebstrapVersion: string;
  codename: string;
  variant: string;
  architecture: string;
  components: string[];
  /** The apt source lines, i.e. the mirrors and suites. */
  sources: string[];
  packages: string[];
  /** sha256 of the archive keyring file. */
  keyringSha256: string;
}

export function bootstrapKey(input: BootstrapKeyInput): string {
  const canonical = JSON.stringify({
    format: CACHE_FORMAT,
    ...input,
    components: [...input.components].sort(),
    packages: [...new Set(input.packages)].sort(),
  });
  return createHash('sha256').update(canonical).digest('hex');
}

/** What is written beside each cached rootfs tarball, last, when the entry is whole. */
interface EntryRecord {
  key: string;
  sha256: string;
  size: number;
  created: string;
  input: BootstrapKeyInput;
}

export type CacheOutcome = 'hit' | 'miss' | 'stale' | 'damaged' | 'off';

/**
 * A content-addressed cache of bootstrapped root filesystems: `<dir>/rootfs/<key>.tar.zst`
 * and `<key>.json` (its sha256 and size, written last). An entry is used only when its
 * tarball is whole (size and sha256 match the record) and younger than the maximum age;
 * anything else is removed and rebuilt.
 */
export class BootstrapCache {
  constructor(
    readonly dir: string,
    /** Entries older than this are rebuilt, so images pick up archive updates. */
    readonly maxAgeHours: number,
    private readonly log: BuildLog,
    private readonly signal: AbortSignal,
  ) {}

  private paths(key: string) {
    const base = join(this.dir, 'rootfs', key);
    return { tarball: `${base}.tar.zst`, record: `${base}.json` };
  }

  /** Restores the entry into `rootfs` (which must not exist). */
  async restore(key: string, rootfs: string): Promise<CacheOutcome> {
    const { tarball, record } = this.paths(key);
    if (!existsSync(record)) return 'miss';
    let entry: EntryRecord;
    try {
      entry = JSON.parse(readFileSync(record, 'utf8')) as EntryRecord;
    } catch {
      return this.discard(key, 'damaged', 'its record is not readable');
    }
    const ageHours = (Date.now() - Date.parse(entry.created)) / 3.6e6;
    if (!(ageHours <= this.maxAgeHours)) {
      return this.discard(key, 'stale', `it is ${ageHours.toFixed(1)} h old (max ${this.maxAgeHours} h)`);
    }
    if (!existsSync(tarball) || statSync(tarball).size !== entry.size) {
      return this.discard(key, 'damaged', 'its tarball is missing or truncated');
    }
    const digest = await digestFile(tarball);
    if (digest.sha256 !== entry.sha256) return this.discard(key, 'damaged', 'its checksum does not match');
    await mkdir(rootfs, { recursive: true });
    try {
      await run('tar', ['--extract', '--zstd', `--file=${tarball}`, `--directory=${rootfs}`, ...TAR_FLAGS], {
        log: this.log,
        signal: this.signal,
        describe: 'tar (restore cached rootfs)',
      });
    } catch (error) {
      await rm(rootfs, { recursive: true, force: true });
      if (this.signal.aborted) throw error;
      return this.discard(key, 'damaged', 'it does not unpack');
    }
    return 'hit';
  }

  /** Saves a freshly bootstrapped rootfs under `key`; a failure only costs the cache. */
  async save(key: string, rootfs: string, input: BootstrapKeyInput): Promise<void> {
    const { tarball, record } = this.paths(key);
    const temp = `${tarball}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await mkdir(join(this.dir, 'rootfs'), { recursive: true });
      await run('tar', ['--create', '--zstd', `--file=${temp}`, `--directory=${rootfs}`, ...TAR_FLAGS, '.'], {
        log: this.log,
        signal: this.signal,
        describe: 'tar (cache rootfs)',
        env: { ...process.env, ZSTD_NBTHREADS: '0', ZSTD_CLEVEL: '3' },
      });
      const digest = await digestFile(temp);
      await rename(temp, tarball);
      const entry: EntryRecord = { key, sha256: digest.sha256, size: digest.size, created: new Date().toISOString(), input };
      await writeFile(`${record}.tmp`, `${JSON.stringify(entry, null, 2)}\n`);
      await rename(`${record}.tmp`, record);
      await this.prune();
    } catch (error) {
      await rm(temp, { force: true });
      if (this.signal.aborted) throw error;
      this.log.warn(`could not save the bootstrap cache entry: ${(error as Error).message.split('\n')[0]}`);
    }
  }

  private async discard(key: string, outcome: CacheOutcome, why: string): Promise<CacheOutcome> {
    this.log.warn(`bootstrap cache entry ${key.slice(0, 12)} not used: ${why}; rebuilding it`);
    const { tarball, record } = this.paths(key);
    await rm(record, { force: true });
    await rm(tarball, { force: true });
    return outcome;
  }

  /** Removes entries well past their age, so the cache does not grow without bound. */
  private async prune(): Promise<void> {
    const dir = join(this.dir, 'rootfs');
    const limit = Date.now() - 7 * this.maxAgeHours * 3.6e6;
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).mtimeMs < limit) await rm(path, { force: true });
    }
  }
}

/** Ownership, permissions, xattrs (file capabilities) and ACLs survive the round trip. */
const TAR_FLAGS = ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '--same-permissions'];

/** mmdebstrap hooks that share downloaded .deb files between builds (under a lock). */
export function debCacheHooks(debDir: string): string[] {
  const lock = join(debDir, '.lock');
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    '--skip=essential/unlink',
    `--setup-hook=mkdir -p ${q(debDir)} "$1/var/cache/apt/archives/partial"`,
    `--setup-hook=flock ${q(lock)} sh -c 'for f in ${q(debDir)}/*.deb; do [ -e "$f" ] && cp -p "$f" "$1/var/cache/apt/archives/"; done; true' sh "$1"`,
    `--customize-hook=flock ${q(lock)} sh -c 'for f in "$1"/var/cache/apt/archives/*.deb; do [ -e ${q(debDir)}/"$(basename "$f")" ] || cp -p "$f" ${q(debDir)}/; done; true' sh "$1"`,
  ];
}
