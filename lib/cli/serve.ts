import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { Command } from 'commander';
import { BuildError, UsageError } from '../core/errors';
import { quote, safeLine } from '../core/message-text';
import { createFileServer, DEFAULT_SERVER_LIMITS } from '../storage/local/file-server';
import { commanderErrorOutput, refuseRepeatedFlags } from './flags';
import { STREAMS_INDEX_PATH } from '../storage/indexes/simplestreams';
import { runMain } from './main';
import packageJson from '../../package.json';

interface ServeOptions {
  localStoragePath: string;
  address: string;
  port: string;
  tlsCert: string;
  tlsKey: string;
  maxConnections: string;
  idleTimeout: string;
  quiet?: boolean;
}

const EXAMPLES = `
Examples:
  serve --local-storage-path ./store --tls-cert cert.pem --tls-key key.pem
  lxc remote add acme https://127.0.0.1:8443 --protocol simplestreams --public
  lxc launch acme:webapp/bookworm

Serves the folder read-only over HTTPS (LXD and Incus only take simplestreams remotes over
HTTPS; the certificate must be one the LXD host trusts). Runs until Ctrl-C. A connection
idle for --idle-timeout seconds (no handshake, no request, a response nobody reads) is
closed; connections beyond --max-connections are closed as soon as they are accepted.
Exit codes: 0 stopped, 1 failed, 2 bad usage.`;

export function serveCommand(version: string): Command {
  const command = new Command('serve')
    .description('Serve a local store over HTTPS as a simplestreams image server for LXD and Incus.')
    .version(version, '-V, --version')
    .requiredOption('--local-storage-path <path>', 'the local store to serve (the folder holding streams/)')
    .requiredOption('--tls-cert <pem>', 'the server certificate (PEM, with its chain)')
    .requiredOption('--tls-key <pem>', 'its private key (PEM)')
    .option('--address <address>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', '8443')
    .option('--max-connections <n>', 'connections served at once', String(DEFAULT_SERVER_LIMITS.maxConnections))
    .option('--idle-timeout <seconds>', 'close a connection idle this long', String(DEFAULT_SERVER_LIMITS.idleTimeoutMs / 1000))
    .option('--quiet', 'do not log each request')
    .addHelpText('after', EXAMPLES)
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput(commanderErrorOutput('serve'));
  return refuseRepeatedFlags(command);
}

function readPem(flag: string, path: string, check: (text: string) => void): string {
  if (!existsSync(path)) throw new UsageError(`${flag} ${quote(path)}: no such file`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`${flag} ${quote(path)} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    check(text);
  } catch {
    throw new UsageError(`${flag} ${quote(path)} is not a PEM ${flag === '--tls-cert' ? 'certificate' : 'private key'}`);
  }
  return text;
}

function parsePort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new UsageError(`--port ${quote(value)} is not a port number (0-65535)`);
  return Number(value);
}

function parseMaxConnections(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 100000) {
    throw new UsageError(`--max-connections ${quote(value)} is not a number of connections (1-100000)`);
  }
  return Number(value);
}

function parseIdleTimeout(value: string): number {
  const seconds = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  if (!(seconds >= 0.1 && seconds <= 3600)) throw new UsageError(`--idle-timeout ${quote(value)} is not a number of seconds (0.1-3600)`);
  return Math.round(seconds * 1000);
}

export function serveMain(argv: string[]): Promise<number> {
  return runMain('serve', async (signal) => {
    const command = serveCommand(packageJson.version);
    command.parse(argv, { from: 'user' });
    const options = command.opts<ServeOptions>();
    const root = resolve(options.localStoragePath);
    if (!existsSync(root) || !statSync(root).isDirectory()) {
      throw new UsageError(`--local-storage-path ${quote(options.localStoragePath)} is not a folder`);
    }
    const port = parsePort(options.port);
    const limits = { maxConnections: parseMaxConnections(options.maxConnections), idleTimeoutMs: parseIdleTimeout(options.idleTimeout) };
    const cert = readPem('--tls-cert', options.tlsCert, (text) => new X509Certificate(text));
    const key = readPem('--tls-key', options.tlsKey, (text) => createPrivateKey(text));
    let server: ReturnType<typeof createFileServer>;
    try {
      server = createFileServer({
        root,
        cert,
        key,
        limits,
        onRequest: options.quiet ? undefined : (line) => process.stderr.write(`${safeLine(line)}\n`),
      });
    } catch (error) {
      throw new UsageError(`--tls-cert and --tls-key do not make a TLS identity: ${(error as Error).message.split('\n')[0]}`);
    }
    await new Promise<void>((done, fail) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        const why = error.code === 'EADDRINUSE' ? 'the address is in use' : error.code === 'EACCES' ? 'permission denied' : error.message;
        fail(new BuildError(`cannot listen on ${options.address}:${port}: ${why}`));
      });
      server.listen(port, options.address, () => done());
    });
    const address = server.address();
    const actualPort = address && typeof address === 'object' ? address.port : port;
    const host = options.address.includes(':') ? `[${options.address}]` : options.address;
    if (!existsSync(join(root, STREAMS_INDEX_PATH))) {
      process.stderr.write(`serve: warning: ${join(root, STREAMS_INDEX_PATH)} does not exist yet (no LXD image stored): LXD will list nothing\n`);
    }
    process.stdout.write(`serving ${root} at https://${host}:${actualPort}\n`);
    await new Promise<void>((done) => {
      if (signal.aborted) return done();
      signal.addEventListener('abort', () => done(), { once: true });
    });
    await new Promise<void>((done) => {
      server.close(() => done());
      server.closeAllConnections();
    });
    return 0;
  });
}
