import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** An artifact's identity: every artifact carries md5 (for tailor's consumers) and sha256. */
export interface FileDigest {
  size: number;
  md5: string;
  sha256: string;
}

/** A pass-through stream that hashes what flows through it. */
export class DigestingStream extends Transform {
  private readonly md5 = createHash('md5');
  private readonly sha256 = createHash('sha256');
  private bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.md5.update(chunk);
    this.sha256.update(chunk);
    this.bytes += chunk.length;
    this.push(chunk);
    callback();
  }

  digest(): FileDigest {
    return { size: this.bytes, md5: this.md5.digest('hex'), sha256: this.sha256.digest('hex') };
  }
}

/** Reads a file once and returns its size, md5 and sha256. */
export async function digestFile(path: string): Promise<FileDigest> {
  const hasher = new DigestingStream();
  await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), hasher, async function* (source) {
    for await (const _chunk of source) {
      /* drain */
    }
  });
  const digest = hasher.digest();
  const { size } = await stat(path);
  if (size !== digest.size) throw new Error(`${path} changed while it was being hashed`);
  return digest;
}

/** Writes a stream to a file, hashing it on the way: one pass for both. */
export async function writeWithDigest(source: Readable, path: string): Promise<FileDigest> {
  const hasher = new DigestingStream();
  await pipeline(source, hasher, createWriteStream(path));
  return hasher.digest();
}

/** The md5sum/sha256sum line format tailor's consumers read: "<hex>  <file name>\n". */
export function checksumLine(hex: string, fileName: string): string {
  return `${hex}  ${fileName}\n`;
}
