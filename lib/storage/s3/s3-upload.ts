import { createHash, Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, TransformCallback } from 'node:stream';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { FileDigest } from '../../core/digest';

/**
 * Uploads one file with @aws-sdk/lib-storage (multipart with parallel parts, each part
 * retried by the SDK) and proves what landed is what was built:
 *  - the bytes sent are hashed on the way and must match the build's md5/sha256 (the file
 *    did not change after it was checksummed);
 *  - the object is read back (HeadObject): its size, its md5/sha256 metadata and its ETag
 *    must match. The server computes the ETag from the bytes it received: the md5 for a
 *    single PUT, md5(part md5s)-N for a multipart upload, which we compute from the same
 *    part boundaries. (Objects encrypted with SSE-KMS have opaque ETags; there the S3
 *    checksums, which S3 verified on upload, stand in.)
 *
 * S3 checksums (x-amz-checksum-sha256) go with every PUT when the client computes checksums
 * (AWS, the SDK default): the build's sha256 for a single PUT, per-part SHA-256 for
 * multipart, which AWS verifies. With a custom endpoint the client is set to send them only
 * where required (Ceph RGW neither checks nor returns them), and the ETag check stands alone.
 */
export interface UploadSpec {
  bucket: string;
  key: string;
  path: string;
  digest: FileDigest;
  contentType: string;
  cacheControl: string;
  /** Called with bytes sent so far. */
  onProgress?: (loaded: number, total: number) => void;
  signal?: AbortSignal;
}

export interface UploadTuning {
  /** Bytes per part (at least 5 MiB; grown for files beyond 10,000 parts). */
  partSize: number;
  /** Parts in flight at once. */
  queueSize: number;
}

export const DEFAULT_TUNING: UploadTuning = { partSize: 16 * 1024 * 1024, queueSize: 6 };

const MAX_PARTS = 10000;

/**
 * Hashes a stream as it is uploaded: SHA-256 of the whole (the file is still what the build
 * checksummed) and MD5 per part (what the server's ETag is made of). MD5 is the slow one,
 * so it runs once per byte; the whole file's MD5 is only known for a single part.
 */
class PartHasher extends Transform {
  readonly partMd5s: Buffer[] = [];
  private readonly sha256 = createHash('sha256');
  private part: Hash = createHash('md5');
  private inPart = 0;
  bytes = 0;

  constructor(private readonly partSize: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.sha256.update(chunk);
    this.bytes += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(this.partSize - this.inPart, chunk.length - offset);
      this.part.update(chunk.subarray(offset, offset + take));
      this.inPart += take;
      offset += take;
      if (this.inPart === this.partSize) this.closePart();
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.inPart > 0 || this.partMd5s.length === 0) this.closePart();
    callback();
  }

  private closePart(): void {
    this.partMd5s.push(this.part.digest());
    this.part = createHash('md5');
    this.inPart = 0;
  }

  /** The sha256 sent, and the ETags the server may give the object (single PUT or multipart). */
  result(): { sha256: string; size: number; etags: string[] } {
    const combined = createHash('md5').update(Buffer.concat(this.partMd5s)).digest('hex');
    const etags = [`${combined}-${this.partMd5s.length}`];
    if (this.partMd5s.length === 1) etags.push(this.partMd5s[0].toString('hex'));
    return { sha256: this.sha256.digest('hex'), size: this.bytes, etags };
  }
}

export function partSizeFor(size: number, tuning: UploadTuning): number {
  return Math.max(tuning.partSize, 5 * 1024 * 1024, Math.ceil(size / MAX_PARTS));
}

function hexToBase64(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}

export async function uploadFile(client: S3Client, spec: UploadSpec, tuning: UploadTuning = DEFAULT_TUNING): Promise<void> {
  const size = spec.digest.size;
  const partSize = partSizeFor(size, tuning);
  const hasher = new PartHasher(partSize);
  const source = createReadStream(spec.path, { highWaterMark: 1 << 20 });
  source.on('error', (error) => hasher.destroy(error));
  const body = source.pipe(hasher);
  const single = size < partSize;
  const sendChecksums = (await client.config.requestChecksumCalculation()) === 'WHEN_SUPPORTED';
  const upload = new Upload({
    client,
    partSize,
    queueSize: tuning.queueSize,
    leavePartsOnError: false,
    params: {
      Bucket: spec.bucket,
      Key: spec.key,
      Body: body,
      ContentLength: size,
      ContentType: spec.contentType,
      CacheControl: spec.cacheControl,
      Metadata: { md5: spec.digest.md5, sha256: spec.digest.sha256 },
      // One PUT: the build's own sha256, so the server checks the bytes against the build.
      // Multipart: the SDK computes a SHA-256 per part. Not where the client was told to
      // send checksums only when required (custom endpoints: see s3-client.ts).
      ...(!sendChecksums ? {} : single ? { ChecksumSHA256: hexToBase64(spec.digest.sha256) } : { ChecksumAlgorithm: 'SHA256' as const }),
    },
  });
  if (spec.onProgress) upload.on('httpUploadProgress', (p) => spec.onProgress?.(p.loaded ?? 0, size));
  const onAbort = () => void upload.abort().catch(() => undefined);
  spec.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await upload.done();
  } finally {
    spec.signal?.removeEventListener('abort', onAbort);
    source.destroy();
  }
  spec.signal?.throwIfAborted();
  const sent = hasher.result();
  if (sent.size !== size || sent.sha256 !== spec.digest.sha256) {
    throw new Error(`${spec.path} changed after it was checksummed (sent ${sent.size} bytes, sha256 ${sent.sha256})`);
  }
  if (sent.etags.length === 2 && sent.etags[1] !== spec.digest.md5) {
    throw new Error(`${spec.path} does not have the md5 the build recorded`);
  }
  await verifyObject(client, spec, sent.etags);
}

/** Reads the object back and checks size, checksum metadata and ETag. */
export async function verifyObject(
  client: S3Client,
  spec: Pick<UploadSpec, 'bucket' | 'key' | 'digest' | 'signal'>,
  acceptableEtags: string[],
): Promise<void> {
  const head = await client.send(new HeadObjectCommand({ Bucket: spec.bucket, Key: spec.key }), { abortSignal: spec.signal });
  const where = `s3://${spec.bucket}/${spec.key}`;
  if (head.ContentLength !== spec.digest.size) {
    throw new Error(`${where} has ${head.ContentLength} bytes after upload, expected ${spec.digest.size}`);
  }
  if (head.Metadata?.md5 !== spec.digest.md5 || head.Metadata?.sha256 !== spec.digest.sha256) {
    throw new Error(`${where} lost its md5/sha256 metadata on upload`);
  }
  const etag = (head.ETag ?? '').replace(/"/g, '');
  const kms = head.ServerSideEncryption?.startsWith('aws:kms') ?? false;
  if (!kms && !acceptableEtags.includes(etag)) {
    throw new Error(`${where} does not hold the bytes sent (ETag ${etag}, expected ${acceptableEtags.join(' or ')})`);
  }
}
