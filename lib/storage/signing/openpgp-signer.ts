import { lstat, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildError, UsageError } from '../../core/errors';
import { run } from '../../core/exec';
import { BuildLog } from '../../core/log';
import { quote } from '../../core/message-text';

/** A key file bigger than this is not a key (and is not read whole). */
const MAX_KEY_BYTES = 1 << 20;

/** gpg in a session: its own GNUPGHOME, the signing key imported, nothing of the caller's environment. */
export interface GpgSession {
  /** The throwaway GNUPGHOME (0700), removed when the session ends; skopeo --sign-by uses it. */
  readonly home: string;
  /** The environment gpg (and skopeo signing through it) runs with: PATH, GNUPGHOME, a C locale. */
  readonly env: NodeJS.ProcessEnv;
  readonly fingerprint: string;
  /** Writes a detached binary signature of `file` to `signature`. */
  detachSign(file: string, signature: string): Promise<void>;
  /** The public key, binary (what gpgv --keyring and a podman policy's keyPath take). */
  exportPublicKey(file: string): Promise<void>;
}

/**
 * The release signing key (`--signing-key <file>`: an OpenPGP secret key without a
 * passphrase, as `gpg --export-secret-keys` writes it, binary or armored). The key is read
 * once and held in memory; each use imports it on standard input into a fresh GNUPGHOME
 * that is removed afterwards, so it never reaches an argument list, an environment or a
 * log, and the host's own keyrings are never touched.
 */
export class OpenPgpSigner {
  private constructor(
    private readonly key: Buffer,
    readonly fingerprint: string,
  ) {}

  /** Reads and checks the key: a regular file under 1 MiB holding exactly one secret key that gpg can sign with. UsageError if not. */
  static async fromFile(path: string, log: BuildLog): Promise<OpenPgpSigner> {
    const stat = await lstat(path).catch(() => undefined);
    if (!stat) throw new UsageError(`--signing-key ${quote(path)} does not exist`);
    if (!stat.isFile()) throw new UsageError(`--signing-key ${quote(path)} is not a regular file`);
    if (stat.size > MAX_KEY_BYTES) throw new UsageError(`--signing-key ${quote(path)} is too big for an OpenPGP key (${stat.size} bytes)`);
    const key = await readFile(path);
    const probe = new OpenPgpSigner(key, '');
    const fingerprint = await probe.withSession(log, async (session) => session.fingerprint).catch((error: unknown) => {
      throw new UsageError(`--signing-key ${quote(path)}: ${(error as Error).message}`);
    });
    return new OpenPgpSigner(key, fingerprint);
  }

  /** Runs `body` with the key imported into a throwaway GNUPGHOME; the home (and its agent) go afterwards, whatever happens. */
  async withSession<T>(log: BuildLog, body: (session: GpgSession) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const home = await mkdtemp(join(tmpdir(), 'tailor-gpg-'));
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', GNUPGHOME: home, LC_ALL: 'C' };
    const gpg = (args: string[], describe: string, input?: Buffer) =>
      run('gpg', ['--batch', '--no-tty', '--quiet', '--pinentry-mode', 'error', ...args], { env, log, signal, capture: true, describe, input });
    try {
      await gpg(['--import'], 'gpg --import (the signing key)', this.key).catch(() => {
        throw new BuildError('gpg cannot import it as an OpenPGP key');
      });
      const listing = (await gpg(['--with-colons', '--list-secret-keys'], 'gpg --list-secret-keys')).stdout;
      const fingerprints = secretKeyFingerprints(listing);
      if (fingerprints.length !== 1) throw new BuildError(fingerprints.length === 0 ? 'it holds no secret key' : `it holds ${fingerprints.length} secret keys (give one)`);
      const [fingerprint] = fingerprints;
      const session: GpgSession = {
        home,
        env,
        fingerprint,
        detachSign: async (file, signature) => {
          await gpg(['--yes', '--local-user', fingerprint, '--detach-sign', '--output', signature, file], 'gpg --detach-sign').catch(() => {
            throw new BuildError(`gpg cannot sign with key ${fingerprint} (a passphrase-protected key cannot sign unattended)`);
          });
        },
        exportPublicKey: async (file) => {
          await gpg(['--yes', '--output', file, '--export', fingerprint], 'gpg --export');
        },
      };
      if (this.fingerprint === '') {
        // First use: prove it signs (a protected key imports, but cannot sign in batch).
        await session.detachSign('/dev/null', join(home, 'probe.sig'));
      }
      return await body(session);
    } finally {
      await run('gpgconf', ['--kill', 'gpg-agent'], { env, log, describe: 'gpgconf --kill gpg-agent' }).catch(() => undefined);
      await rm(home, { recursive: true, force: true });
    }
  }
}

/** The fingerprints of the primary secret keys in `gpg --with-colons --list-secret-keys` output. */
export function secretKeyFingerprints(colons: string): string[] {
  const out: string[] = [];
  let inPrimary = false;
  for (const line of colons.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === 'sec') inPrimary = true;
    else if (fields[0] === 'ssb') inPrimary = false;
    else if (fields[0] === 'fpr' && inPrimary) {
      out.push(fields[9]);
      inPrimary = false;
    }
  }
  return out;
}
