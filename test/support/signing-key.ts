import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keyringPackets } from '../../lib/core/openpgp';

/** A throwaway OpenPGP signing key made for a test: the secret key file, the public key, and how to spot its secret. */
export interface TestSigningKey {
  /** `gpg --export-secret-keys` output (binary), what --signing-key takes. */
  secretKeyFile: string;
  /** The public key, binary: what gpgv --keyring and podman's keyPath take. */
  publicKeyFile: string;
  fingerprint: string;
  /**
   * Byte strings whose presence anywhere means the secret leaked: 24 bytes of the secret
   * scalar, as they are, in hex, and in base64 at each of the three alignments an armored
   * export could put them in (two short pieces each, so a line break of the armor cannot
   * hide both). (Not "PRIVATE KEY BLOCK": gpg's own binaries hold that text.)
   */
  secretMarkers: Buffer[];
}

/** Makes an ed25519 signing key (no passphrase) in `dir`, with gpg in its own home. */
export function makeSigningKey(dir: string, options: { passphrase?: string } = {}): TestSigningKey {
  const home = mkdtempSync(join(tmpdir(), 'test-gpg-'));
  const env = { PATH: process.env.PATH, GNUPGHOME: home, LC_ALL: 'C' };
  try {
    const gpg = (args: string[]) => execFileSync('gpg', ['--batch', '--quiet', '--pinentry-mode', 'loopback', '--passphrase', options.passphrase ?? '', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    gpg(['--quick-gen-key', 'tailor-image test signing <signing@test.invalid>', 'ed25519', 'sign', 'never']);
    const fingerprint = /^fpr:(?:[^:]*:){8}([0-9A-F]{40}):/m.exec(gpg(['--with-colons', '--list-secret-keys']).toString())![1];
    const secret = gpg(['--export-secret-keys', fingerprint]);
    const secretKeyFile = join(dir, options.passphrase ? 'protected.key' : 'signing.key');
    const publicKeyFile = join(dir, 'signing.pub');
    writeFileSync(secretKeyFile, secret, { mode: 0o600 });
    writeFileSync(publicKeyFile, gpg(['--export', fingerprint]));
    // An unprotected secret-key packet (tag 5) ends with the secret scalar's MPI and a
    // two-byte checksum: 24 bytes of that scalar seen anywhere else is a leak.
    const packet = keyringPackets(secret).find((p) => p.tag === 5)!;
    const tail = secret.subarray(packet.end - 2 - 24, packet.end - 2);
    return {
      secretKeyFile,
      publicKeyFile,
      fingerprint,
      secretMarkers: [tail, Buffer.from(tail.toString('hex')), ...[0, 1, 2].flatMap((skip) => [4, 16].map((at) => Buffer.from(tail.subarray(skip).toString('base64').slice(at, at + 12))))],
    };
  } finally {
    try {
      execFileSync('gpgconf', ['--kill', 'gpg-agent'], { env, stdio: 'ignore' });
    } catch {
      // no agent running
    }
    rmSync(home, { recursive: true, force: true });
  }
}

/** Files under `paths` (recursively when a folder) holding any of the markers: [] when none does. */
export function filesHolding(markers: Buffer[], paths: string[]): string[] {
  const found: string[] = [];
  const visit = (path: string) => {
    const stat = lstatSync(path, { throwIfNoEntry: false });
    if (!stat) return;
    if (stat.isDirectory()) {
      for (const name of readdirSync(path)) visit(join(path, name));
    } else if (stat.isFile()) {
      const bytes = readFileSync(path);
      if (markers.some((marker) => bytes.includes(marker))) found.push(path);
    }
  };
  for (const path of paths) visit(path);
  return found;
}

/** `gpgv` of a detached signature against the public key: true when it verifies. */
export function gpgvVerifies(publicKeyFile: string, signature: string, file: string): boolean {
  try {
    execFileSync('gpgv', ['--keyring', publicKeyFile, signature, file], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
