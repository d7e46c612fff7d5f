import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { digestFile } from '../core/digest';
import { run } from '../core/exec';
import { hostToolEnv } from './command-env';
import { BuildLog } from '../core/log';
import { overlayStandsOn } from './overlay';
import { removeWorkDir } from './workdir';

/** Bump when what an entry holds changes shape, so old entries are never read. */
const CACHE_FORMAT = 2;

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
  /** dpkg options written before the install (a minimised recipe's path-exclude); absent when none. */
  dpkgOptions?: string[];
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

/** The shape of an unpacked tree: enough to notice a file gone, added or cut short. */
export interface TreeShape {
  entries: number;
  bytes: number;
}

/** What is written beside each cached rootfs tarball, last, when the entry is whole. */
interface EntryRecord {
  key: string;
  sha256: string;
  size: number;
  created: string;
  input: BootstrapKeyInput;
  /** The unpacked copy's shape, when there is one. */
  tree?: TreeShape;
}

export type CacheOutcome = 'hit' | 'miss' | 'stale' | 'damaged' | 'off';

/**
 * A cache lookup: on a hit, the unpacked rootfs to lay an overlay on (never write to it);
 * `private` when it could not be put in place (the caller removes it when done).
 */
export type CacheLookup = { outcome: 'hit'; tree: string; private: boolean } | { outcome: Exclude<CacheOutcome, 'hit' | 'off'> };

/**
 * A content-addressed cache of bootstrapped root filesystems, in `<dir>/rootfs/`:
 *
 *   <key>.tar.zst   the rootfs as a tarball: the durable, checksummed form (and what a
 *                   CodeBuild S3 cache carries between hosts);
 *   <key>.tree/     the same rootfs unpacked, used read-only as the lower layer of each
 *                   build's overlay, so a hit writes nothing but the build's own changes;
 *   <key>.json      the record (sha256 and size of the tarball, shape of the tree),
 *                   written last, when the entry is whole.
 *
 * An entry is used only when its tarball is whole (size and sha256 match the record),
 * it is younger than the maximum age, and its tree has the recorded shape; a missing
 * tree is unpacked again from the verified tarball. Anything else is removed and rebuilt.
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
    return { tarball: `${base}.tar.zst`, record: `${base}.json`, tree: `${base}.tree` };
  }

  /**
   * The prefix of files derived from an entry's tree (e.g. `<key>.oci-base.tar.gz`): kept
   * beside it, removed with it, pruned by age like it.
   */
  derivedPrefix(key: string): string {
    return join(this.dir, 'rootfs', key);
  }

  /** A fresh directory in the cache to bootstrap into (pass it to beginSave() afterwards). */
  async scratchTree(key: string): Promise<string> {
    await mkdir(join(this.dir, 'rootfs'), { recursive: true });
    return `${this.paths(key).tree}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  }

  async lookup(key: string): Promise<CacheLookup> {
    const { tarball, record, tree } = this.paths(key);
    if (!existsSync(record)) return { outcome: 'miss' };
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
    if (existsSync(tree)) {
      if (entry.tree && sameShape(treeShape(tree), entry.tree)) return { outcome: 'hit', tree, private: false };
      this.log.warn(`bootstrap cache entry ${key.slice(0, 12)}: its unpacked tree differs from the record; unpacking it again`);
      await this.removeTree(tree);
    }
    return this.unpack(key, entry);
  }

  /** Unpacks the verified tarball into the entry's tree (once; later hits reuse it). */
  private async unpack(key: string, entry: EntryRecord): Promise<CacheLookup> {
    const { tarball, tree } = this.paths(key);
    const temp = await this.scratchTree(key);
    await mkdir(temp);
    try {
      await run('tar', ['--extract', '--zstd', `--file=${tarball}`, `--directory=${temp}`, ...TAR_FLAGS], {
        log: this.log,
        signal: this.signal,
        describe: 'tar (unpack cached rootfs)',
      });
    } catch (error) {
      await this.removeTree(temp);
      if (this.signal.aborted) throw error;
      return this.discard(key, 'damaged', 'it does not unpack');
    }
    const shape = treeShape(temp);
    const placed = await this.place(temp, tree);
    if (placed === tree) await this.writeRecord({ ...entry, tree: shape });
    return { outcome: 'hit', tree: placed, private: placed !== tree };
  }

  /**
   * Saves a freshly bootstrapped tree (made in scratchTree()) under `key`, in two steps so
   * the build need not wait: now, the tarball is written in the background (the tree must
   * not change meanwhile: builds only lay overlays on it); finish(), once no overlay stands
   * on the tree any more, moves the tarball and the tree into place and writes the record,
   * last. finish() resolves to where the tree now is: the entry's tree, or still the scratch
   * tree (another build placed one first, or saving failed), which the caller removes. A
   * failure only costs the cache.
   */
  beginSave(key: string, scratch: string, input: BootstrapKeyInput): { finish(): Promise<string> } {
    const { tarball, tree } = this.paths(key);
    const temp = `${tarball}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const packed = (async () => {
      await run('tar', ['--create', '--zstd', `--file=${temp}`, `--directory=${scratch}`, ...TAR_FLAGS, '.'], {
        log: this.log,
        signal: this.signal,
        describe: 'tar (cache rootfs)',
        env: hostToolEnv({ ZSTD_NBTHREADS: '0', ZSTD_CLEVEL: '3' }),
      });
      return { digest: await digestFile(temp), shape: treeShape(scratch) };
    })().then(
      (result) => ({ ok: true as const, ...result }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    return {
      finish: async () => {
        const result = await packed;
        try {
          if (!result.ok) throw result.error;
          await rename(temp, tarball);
          const placed = await this.place(scratch, tree);
          const { digest, shape } = result;
          await this.writeRecord({ key, sha256: digest.sha256, size: digest.size, created: new Date().toISOString(), input, tree: shape });
          await this.prune();
          return placed;
        } catch (error) {
          await rm(temp, { force: true });
          if (!this.signal.aborted) {
            this.log.warn(`could not save the bootstrap cache entry: ${(error as Error).message.split('\n')[0]}`);
          }
          return scratch;
        }
      },
    };
  }

  /** Moves a finished tree into place unless another build got there first. */
  private async place(from: string, to: string): Promise<string> {
    if (existsSync(to)) return from;
    try {
      await rename(from, to);
      return to;
    } catch {
      return from;
    }
  }

  private async writeRecord(entry: EntryRecord): Promise<void> {
    const { record } = this.paths(entry.key);
    const temp = `${record}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temp, `${JSON.stringify(entry, null, 2)}\n`);
    await rename(temp, record);
  }

  private async discard(key: string, outcome: 'stale' | 'damaged', why: string): Promise<CacheLookup> {
    this.log.warn(`bootstrap cache entry ${key.slice(0, 12)} not used: ${why}; rebuilding it`);
    const { tarball, record, tree } = this.paths(key);
    await rm(record, { force: true });
    await rm(tarball, { force: true });
    await this.removeDerived(key);
    await this.removeTree(tree);
    return { outcome };
  }

  /** Removes what was derived from an entry's tree (it is made again from the new one). */
  private async removeDerived(key: string): Promise<void> {
    const dir = join(this.dir, 'rootfs');
    for (const name of readdirSync(dir)) {
      if (name.startsWith(`${key}.`) && DERIVED.test(name.slice(key.length))) await rm(join(dir, name), { force: true });
    }
  }

  /**
   * Renames a tree aside before deleting it, so the entry's name is free at once. A tree
   * that a running build's overlay stands on is left alone (a later prune removes it).
   */
  private async removeTree(tree: string): Promise<void> {
    if (!existsSync(tree)) return;
    if (overlayStandsOn(tree)) {
      this.log.debug(`${tree} is in use by another build; left for a later prune`);
      return;
    }
    const aside = `${tree}.${randomBytes(4).toString('hex')}.old`;
    try {
      await rename(tree, aside);
    } catch {
      return;
    }
    await removeWorkDir(aside, this.log);
  }

  /** Removes entries (and leftovers of killed builds) well past their age. */
  private async prune(): Promise<void> {
    const dir = join(this.dir, 'rootfs');
    const limit = Date.now() - 7 * this.maxAgeHours * 3.6e6;
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (lstatSync(path).mtimeMs >= limit || overlayStandsOn(path)) continue;
      if (name.endsWith('.tree') || name.endsWith('.tmp') || name.endsWith('.old')) await this.removeAside(path);
      else await rm(path, { force: true });
    }
  }

  private async removeAside(path: string): Promise<void> {
    if (lstatSync(path).isDirectory()) await removeWorkDir(path, this.log);
    else await rm(path, { force: true });
  }
}

/** Counts entries and regular-file bytes below `root` (about 10,000 lstat calls for a rootfs). */
export function treeShape(root: string): TreeShape {
  let entries = 0;
  let bytes = 0;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      entries++;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) bytes += lstatSync(path).size;
    }
  };
  walk(root);
  return { entries, bytes };
}

function sameShape(a: TreeShape, b: TreeShape): boolean {
  return a.entries === b.entries && a.bytes === b.bytes;
}

/** Names of derived files after `<key>` (see derivedPrefix). */
const DERIVED = /^\.oci-base\./;

/** Ownership, permissions, xattrs (file capabilities) and ACLs survive the round trip. */
const TAR_FLAGS = ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '--same-permissions'];

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * mmdebstrap hooks that share downloaded .deb files between builds, under a lock: the
 * shared files are copied into the new rootfs's apt archive before the install, new ones
 * copied back after it, and the rootfs keeps no .deb file.
 */
export function debCacheHooks(debDir: string): string[] {
  const lock = quote(join(debDir, '.lock'));
  const dir = quote(debDir);
  const seed =
    `mkdir -p ${dir} "$1/var/cache/apt/archives/partial" && flock ${lock} sh -c ` +
    quote(`for f in ${dir}/*.deb; do [ -e "$f" ] && cp -p "$f" "$1/var/cache/apt/archives/"; done; true`) + ' sh "$1"';
  const collect =
    `flock ${lock} sh -c ` +
    quote(`for f in "$1"/var/cache/apt/archives/*.deb; do [ -e ${dir}/"$(basename "$f")" ] || cp -p "$f" ${dir}/; done; true`) +
    ' sh "$1"';
  return [
    '--skip=essential/unlink',
    `--setup-hook=${seed}`,
    `--customize-hook=${collect}`,
    '--customize-hook=rm -f "$1"/var/cache/apt/archives/*.deb',
  ];
}
