import { ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

/**
 * A real Docker registry (Debian's docker-registry, the CNCF distribution) on
 * 127.0.0.1:<free port>, with its storage and config in a temp dir. Optionally protected
 * by basic auth (htpasswd with a bcrypt hash). Always stop() it.
 */
export interface TestRegistry {
  /** host:port, e.g. 127.0.0.1:41234 */
  address: string;
  /** Base URL for HTTP checks. */
  url: string;
  /** Where it stores blobs and manifests (what it received, on disk). */
  dataDir: string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * An htpasswd line with a bcrypt hash (the password goes through stdin, not argv): Python's
 * crypt module (Python <= 3.12), else apache2-utils' `htpasswd -niB`.
 */
function htpasswdLine(username: string, password: string): string {
  try {
    const hash = execFileSync(
      'python3',
      ['-W', 'ignore', '-c', 'import crypt,sys; print(crypt.crypt(sys.stdin.read(), crypt.mksalt(crypt.METHOD_BLOWFISH)))'],
      { input: password, stdio: ['pipe', 'pipe', 'ignore'] },
    ).toString().trim();
    if (hash.startsWith('$2')) return `${username}:${hash}`;
  } catch {
    /* no crypt module: try htpasswd */
  }
  try {
    return execFileSync('htpasswd', ['-niB', username], { input: `${password}\n`, stdio: ['pipe', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    throw new Error('cannot make a bcrypt hash for the test registry: needs python3 with the crypt module or htpasswd (apache2-utils)');
  }
}

export async function startRegistry(options: { username?: string; password?: string } = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'tailor-test-registry-'));
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const auth = options.username && options.password
    ? (() => {
        writeFileSync(join(dir, 'htpasswd'), `${htpasswdLine(options.username!, options.password!)}\n`, { mode: 0o600 });
        return `auth:\n  htpasswd:\n    realm: test-registry\n    path: ${join(dir, 'htpasswd')}\n`;
      })()
    : '';
  const config =
    `version: 0.1\n` +
    `log:\n  level: warn\n  accesslog:\n    disabled: true\n` +
    `storage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\n` +
    `http:\n  addr: ${address}\n  secret: ${randomBytes(16).toString('hex')}\n` +
    auth;
  writeFileSync(join(dir, 'config.yml'), config);
  let output = '';
  const child: ChildProcess = spawn('docker-registry', ['serve', join(dir, 'config.yml')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk) => (output = (output + chunk).slice(-4000)));
  child.stderr!.on('data', (chunk) => (output = (output + chunk).slice(-4000)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://${address}`;
  const deadline = Date.now() + 20000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`docker-registry exited (${child.exitCode}): ${output.trim().split('\n').pop()}`);
    }
    try {
      const response = await fetch(`${url}/v2/`);
      if (response.status === 200 || response.status === 401) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not answer on ${address} within 20 s: ${output.trim().split('\n').pop()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { address, url, stop, dataDir: join(dir, 'data') };
}

/**
 * What a pull of `reference` for `arch` resolves to (skopeo --override-arch): the chosen
 * image's architecture and the digest of its config blob. skopeo's `Digest` names the
 * manifest it fetched (the index itself), so the config is what tells the images apart.
 */
export async function resolvedPlatform(reference: string, arch: string, flags: string[]): Promise<{ architecture: string; config: string }> {
  const run = promisify(execFile);
  const config = (await run('skopeo', ['inspect', '--config', '--raw', '--override-arch', arch, ...flags, reference], { maxBuffer: 16 << 20 })).stdout;
  return { architecture: (JSON.parse(config) as { architecture: string }).architecture, config: `sha256:${createHash('sha256').update(config).digest('hex')}` };
}

/** The config digest a manifest (by reference or digest) names. */
export async function configOf(reference: string, flags: string[]): Promise<string> {
  const run = promisify(execFile);
  const manifest = JSON.parse((await run('skopeo', ['inspect', '--raw', ...flags, reference], { maxBuffer: 16 << 20 })).stdout) as { config: { digest: string } };
  return manifest.config.digest;
}
