import { createReadStream, realpathSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, Server } from 'node:https';
import { sep } from 'node:path';
import { STREAMS_CACHE_CONTROL } from '../indexes/simplestreams';

/**
 * A read-only HTTPS server for a store folder: enough for LXD/Incus simplestreams
 * clients and for people fetching images with curl. GET and HEAD only, no listings,
 * nothing outside the folder (no `..`, no hidden files such as lock and temp files, no
 * symlink leading out), single byte ranges, and the cache rule of a published store:
 * the mutable indexes (streams/v1/*.json, index.json, a signed release's SHA256SUMS and
 * signatures) for a minute, everything else
 * (images and their checksums, which never change under a name) for a year.
 */

export const IMMUTABLE_CACHE_CONTROL = 'public, max-age=31536000, immutable';

const CONTENT_TYPES: [string, string][] = [
  ['.tar.gz', 'application/gzip'],
  ['.tar.xz', 'application/x-xz'],
  ['.raw.xz', 'application/x-xz'],
  ['.xz', 'application/x-xz'],
  ['.json', 'application/json'],
  ['.md5', 'text/plain; charset=utf-8'],
  ['.sha256', 'text/plain; charset=utf-8'],
  ['.manifest', 'text/plain; charset=utf-8'],
  ['SHA256SUMS', 'text/plain; charset=utf-8'],
  ['.gpg', 'application/pgp-signature'],
  ['.yaml', 'text/yaml; charset=utf-8'],
];

export function contentTypeFor(path: string): string {
  const match = CONTENT_TYPES.find(([ext]) => path.endsWith(ext));
  return match ? match[1] : 'application/octet-stream';
}

export function cacheControlFor(relativePath: string): string {
  // A signed release's SHA256SUMS and signatures change with it, like the index.
  const mutable = /^streams\/v1\/[^/]+\.json$/.test(relativePath) || /(^|\/)(index(\.json)?|SHA256SUMS)(\.gpg)?$/.test(relativePath);
  return mutable ? STREAMS_CACHE_CONTROL : IMMUTABLE_CACHE_CONTROL;
}

/**
 * The path a request names, relative to the root, or undefined when it may not be
 * served: not absolute, a `.` or `..` segment, a hidden name, a backslash or NUL.
 */
export function safeRelativePath(url: string): string | undefined {
  const rawPath = url.split('?')[0].split('#')[0];
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return undefined;
  }
  if (!decoded.startsWith('/') || decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const segments = decoded.split('/').filter((s) => s !== '');
  if (segments.length === 0) return undefined;
  if (segments.some((s) => s.startsWith('.'))) return undefined;
  return segments.join('/');
}

export interface ByteRange {
  start: number;
  end: number;
}

/**
 * One `bytes=` range against a file of `size` bytes: the range, 'unsatisfiable', or
 * undefined to send the whole file (no header, several ranges, or a form we ignore).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}

/**
 * What one client may hold of the server, so that idle or stalled clients cannot keep
 * connections open for minutes and a crowd of them cannot exhaust it.
 */
export interface ServerLimits {
  /**
   * A connection that does nothing this long is closed: no TLS handshake, no request
   * headers, no request, or no progress reading the response (a client that stopped
   * reading). Idle keep-alive connections are closed sooner (keepAliveMs).
   */
  idleTimeoutMs: number;
  /** Connections open at once; more are closed as soon as they are accepted. */
  maxConnections: number;
  /** An idle keep-alive connection between requests is closed after this. */
  keepAliveMs: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = { idleTimeoutMs: 30_000, maxConnections: 64, keepAliveMs: 5_000 };

export interface FileServerOptions {
  root: string;
  cert: string | Buffer;
  key: string | Buffer;
  /** One line per request (method, path, status). */
  onRequest?: (line: string) => void;
  /** Defaults: DEFAULT_SERVER_LIMITS. */
  limits?: Partial<ServerLimits>;
}

export function createFileServer(options: FileServerOptions): Server {
  const root = realpathSync(options.root);
  const limits = { ...DEFAULT_SERVER_LIMITS, ...options.limits };
  const idle = limits.idleTimeoutMs;
  const server = createServer(
    {
      cert: options.cert,
      key: options.key,
      handshakeTimeout: idle,
      // Node checks these two on an interval; short limits need a short interval.
      headersTimeout: idle,
      requestTimeout: idle,
      connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.floor(idle / 4))),
      keepAliveTimeout: Math.min(limits.keepAliveMs, idle),
    },
    (req, res) => {
      handle(root, req, res)
        .catch(() => send(res, 500, 'internal error'))
        .finally(() => options.onRequest?.(`${req.method} ${req.url} ${res.statusCode}`));
    },
  );
  // No activity on a socket (including a response nobody reads) for this long: destroyed.
  server.timeout = idle;
  server.maxConnections = limits.maxConnections;
  return server;
}

async function handle(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    return send(res, 405, 'method not allowed');
  }
  const relative = safeRelativePath(req.url ?? '/');
  if (relative === undefined) return send(res, 404, 'not found');
  let file: string;
  let size: number;
  let mtime: Date;
  try {
    file = await realpath(`${root}${sep}${relative}`);
    if (!file.startsWith(`${root}${sep}`)) return send(res, 404, 'not found');
    const info = await stat(file);
    if (!info.isFile()) return send(res, 404, 'not found');
    size = info.size;
    mtime = info.mtime;
  } catch {
    return send(res, 404, 'not found');
  }
  res.setHeader('Content-Type', contentTypeFor(relative));
  res.setHeader('Cache-Control', cacheControlFor(relative));
  res.setHeader('Last-Modified', mtime.toUTCString());
  res.setHeader('Accept-Ranges', 'bytes');
  const range = parseRange(req.headers.range, size);
  if (range === 'unsatisfiable') {
    res.setHeader('Content-Range', `bytes */${size}`);
    return send(res, 416, 'range not satisfiable');
  }
  const { start, end } = range ?? { start: 0, end: size - 1 };
  if (range) {
    res.statusCode = 206;
    res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
  } else {
    res.statusCode = 200;
  }
  res.setHeader('Content-Length', String(size === 0 ? 0 : end - start + 1));
  if (req.method === 'HEAD' || size === 0) {
    res.end();
    return;
  }
  await new Promise<void>((resolve) => {
    const stream = createReadStream(file, { start, end });
    stream.on('error', () => {
      res.destroy();
      resolve();
    });
    res.on('close', () => {
      stream.destroy();
      resolve();
    });
    stream.pipe(res);
  });
}

function send(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Length', String(Buffer.byteLength(text) + 1));
  res.end(`${text}\n`);
}
