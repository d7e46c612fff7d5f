import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { BuildError, InterruptedError } from '../core/errors';
import { createS3Client } from '../core/s3-client';
import { quote } from '../core/message-text';

/** An s3://bucket/prefix location. */
export interface S3Location {
  bucket: string;
  prefix: string;
}

export function parseS3Url(url: string): S3Location {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!match || !match[1] || match[1].includes('@')) throw new BuildError(`${quote(url)} is not an s3://bucket[/prefix] address`);
  return { bucket: match[1], prefix: match[2].replace(/\/+$/, '') };
}

function keyFor(location: S3Location, path: string): string {
  const clean = path.replace(/^\/+/, '');
  return location.prefix ? `${location.prefix}/${clean}` : clean;
}

/** Checks that the bucket holds the repository's Release file (HeadObject), before any work. */
export async function checkS3Archive(
  location: S3Location,
  path: string,
  what: string,
  client = createS3Client(),
  signal?: AbortSignal,
): Promise<void> {
  const candidates = ['InRelease', 'Release'].map((file) => keyFor(location, `${path}/${file}`));
  let lastError = '';
  for (const key of candidates) {
    try {
      await client.send(new HeadObjectCommand({ Bucket: location.bucket, Key: key }), { abortSignal: signal });
      return;
    } catch (error) {
      if (signal?.aborted) throw new InterruptedError(String(signal.reason));
      const e = error as { name?: string; $metadata?: { httpStatusCode?: number }; message?: string };
      const reason = e.name && e.name !== 'Error' ? e.name : e.message?.split('\n')[0] ?? String(error);
      lastError = e.$metadata?.httpStatusCode === 404 || e.name === 'NotFound' ? 'not found' : reason;
      if (lastError !== 'not found') break;
    }
  }
  throw new BuildError(`${what} s3://${location.bucket}/${candidates[1].replace(/\/Release$/, '')} is not readable (${lastError})`);
}

export interface S3AptProxy {
  /** http://127.0.0.1:<port>, standing for s3://bucket/prefix. */
  url: string;
  stop(): Promise<void>;
}

/**
 * Serves a bucket prefix over plain HTTP on 127.0.0.1 for apt inside the image while the
 * bundle is installed. The host's AWS credentials sign the requests here; nothing about
 * them (nor an S3 transport for apt) goes into the image.
 */
export async function startS3AptProxy(location: S3Location, client: S3Client = createS3Client()): Promise<S3AptProxy> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://proxy').pathname);
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (path.split('/').includes('..')) {
      res.writeHead(400).end();
      return;
    }
    const key = keyFor(location, path);
    const command = req.method === 'HEAD'
      ? new HeadObjectCommand({ Bucket: location.bucket, Key: key })
      : new GetObjectCommand({ Bucket: location.bucket, Key: key });
    client
      .send(command as GetObjectCommand)
      .then((output) => {
        const headers: Record<string, string | number> = {};
        if (output.ContentLength !== undefined) headers['Content-Length'] = output.ContentLength;
        if (output.LastModified) headers['Last-Modified'] = output.LastModified.toUTCString();
        res.writeHead(200, headers);
        if (req.method === 'HEAD' || !output.Body) {
          res.end();
          return;
        }
        (output.Body as Readable).on('error', () => res.destroy()).pipe(res);
      })
      .catch((error: { $metadata?: { httpStatusCode?: number } }) => {
        const status = error.$metadata?.httpStatusCode;
        res.writeHead(status === 404 || status === 403 ? status : 502).end();
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
