import { lstat, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { digestFile } from '../../core/digest';
import { BuildLog } from '../../core/log';
import { GpgSession, OpenPgpSigner } from './openpgp-signer';

/** The release folder's checksum list, its detached signature, and the index's. */
export const SHA256SUMS = 'SHA256SUMS';
export const SHA256SUMS_SIGNATURE = 'SHA256SUMS.gpg';
export const INDEX_SIGNATURE_SUFFIX = '.gpg';

/** What SHA256SUMS lists of a release folder: its files but itself, the signatures and the index (signed on its own). */
export function listedInSums(name: string, indexFile: string): boolean {
  return !name.startsWith('.') && name !== SHA256SUMS && !name.endsWith('.gpg') && name !== indexFile;
}

/** `<sha256>  <name>` lines, sorted by name (what `sha256sum -c` reads). */
export function sha256sumsText(digests: Map<string, string>): string {
  return [...digests.keys()]
    .sort()
    .map((name) => `${digests.get(name)}  ${name}\n`)
    .join('');
}

/** The digests an earlier SHA256SUMS gives (files in a release are never replaced under their name, so they still hold). */
export function parseSha256sums(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (match) out.set(match[2], match[1]);
  }
  return out;
}

/**
 * The digests of the files in a release folder that its SHA256SUMS does not list yet: the
 * slow part of the first signing of a release that was unsigned, done before the lock is
 * taken (files are never replaced under their name, so the digests still hold under it).
 */
export async function digestsToCome(dir: string, indexFile: string): Promise<Map<string, string>> {
  const listed = parseSha256sums(await readFile(join(dir, SHA256SUMS), 'utf8').catch(() => ''));
  const out = new Map<string, string>();
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!listedInSums(name, indexFile) || listed.has(name)) continue;
    const stat = await lstat(join(dir, name)).catch(() => undefined);
    if (stat?.isFile()) out.set(name, (await digestFile(join(dir, name))).sha256);
  }
  return out;
}

/**
 * Rewrites a local release folder's SHA256SUMS and signs it and the index: call it holding
 * the index's lock, after the folder's files and index changed. Digests of files the last
 * SHA256SUMS listed are taken from it (files are never replaced under their name), then from
 * `known` (the image's own digests, digestsToCome()), and only the rest is hashed here. Each
 * file is written under a temporary name and renamed into place.
 */
export async function signLocalRelease(dir: string, indexFile: string, signer: OpenPgpSigner, log: BuildLog, known = new Map<string, string>()): Promise<void> {
  const previous = parseSha256sums(await readFile(join(dir, SHA256SUMS), 'utf8').catch(() => ''));
  const digests = new Map<string, string>();
  for (const name of await readdir(dir)) {
    if (!listedInSums(name, indexFile)) continue;
    const stat = await lstat(join(dir, name));
    if (!stat.isFile()) continue;
    digests.set(name, previous.get(name) ?? known.get(name) ?? (await digestFile(join(dir, name))).sha256);
  }
  const suffix = `.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const temp = (name: string) => join(dir, `.${name}${suffix}`);
  const sums = temp(SHA256SUMS);
  const written: string[] = [];
  try {
    await writeFile(sums, sha256sumsText(digests));
    written.push(sums);
    await signer.withSession(log, async (session: GpgSession) => {
      await session.detachSign(sums, temp(SHA256SUMS_SIGNATURE));
      written.push(temp(SHA256SUMS_SIGNATURE));
      const index = join(dir, indexFile);
      if (await lstat(index).catch(() => undefined)) {
        await session.detachSign(index, temp(indexFile + INDEX_SIGNATURE_SUFFIX));
        written.push(temp(indexFile + INDEX_SIGNATURE_SUFFIX));
      }
    });
    // Three renames, not one: a reader between them may find a signature that does not match
    // its file, and reads again (the store's lock keeps writers apart, not readers).
    for (const name of [SHA256SUMS_SIGNATURE, indexFile + INDEX_SIGNATURE_SUFFIX, SHA256SUMS]) {
      if (written.includes(temp(name))) await rename(temp(name), join(dir, name));
    }
    log.info(`signed ${join(dir, SHA256SUMS)} (${digests.size} files) and ${indexFile} with key ${signer.fingerprint}`);
  } finally {
    await Promise.all(written.map((path) => rm(path, { force: true })));
  }
}
