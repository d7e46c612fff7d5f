import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { BuildError, InterruptedError } from '../core/errors';
import { createS3Client } from '../core/s3-client';
import { isMissingKey } from '../core/s3-missing';
import { S3Location } from '../core/s3-location';

export type { S3Location } from '../core/s3-location';
export { parseS3Url } from '../core/s3-location';

function keyFor(location: S3Location, path: string): string {
  const clean = path.replace(/^\/+/, '');
  return location.prefix ? `${location.prefix}/${clean}` : clean;
}

/**
 * Checks that the bucket holds the repository's Release file (HeadObject), before any work.
 * A 403 for a missing InRelease is told from a refused read by a listing (see
 * lib/core/s3-missing.ts), so a repository with only Release + Release.gpg is found too.
 */
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
      if (!(await isMissingKey(client, location.bucket, key, error))) {
        const e = error as { name?: string; message?: string };
        lastError = e.message?.split('\n')[0] ?? e.name ?? String(error);
        break;
      }
      lastError = 'not found';
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
      .catch(async (error: { $metadata?: { httpStatusCode?: number } }) => {
        // apt falls back (InRelease → Release, compressed indexes) only on a 404.
        const missing = await isMissingKey(client, location.bucket, key, error).catch(() => false);
        const status = error.$metadata?.httpStatusCode;
        res.writeHead(missing ? 404 : status === 403 ? 403 : 502).end();
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
