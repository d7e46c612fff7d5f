import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { BuildError } from '../../core/errors';
import { BuildLog } from '../../core/log';
import { parseIndex } from '../indexes/tailor-index';
import { OpenPgpSigner } from '../signing/openpgp-signer';
import { INDEX_SIGNATURE_SUFFIX, parseSha256sums, SHA256SUMS, SHA256SUMS_SIGNATURE, sha256sumsText } from '../signing/release-sums';
import { namesIn, INDEX_CACHE_CONTROL } from './s3-index';
import { imagesPrefix, indexKey, objectKey } from './s3-keys';
import { getText, headOrUndefined, listObjects, putText } from './s3-objects';

export interface S3SigningOptions {
  client: S3Client;
  bucket: string;
  releaseLabel: string;
  signer: OpenPgpSigner;
  log: BuildLog;
  signal?: AbortSignal;
  /** Rounds before giving up when other writers keep changing the index. */
  maxRounds?: number;
}

/**
 * Rewrites a published release's SHA256SUMS (the files of every image the index names, at
 * the top of `<label>/images/`) and signs it and the index (`index.gpg`). The published
 * index has no lock, so this reads the index, signs what it read, writes the three objects,
 * and reads the index's ETag again: when another writer changed it meanwhile, it goes round
 * again, so the last writer to finish leaves signatures of the index as it stands. Digests
 * come from the last SHA256SUMS where it names a file (names are never reused for other
 * bytes), else from the object's sha256 metadata (artifacts), else by reading it (side files).
 */
export async function signS3Release(options: S3SigningOptions): Promise<void> {
  const { client, bucket, releaseLabel: label, signer, log, signal } = options;
  const rounds = options.maxRounds ?? 5;
  for (let round = 1; round <= rounds; round++) {
    const index = await getText(client, bucket, indexKey(label), signal);
    if (!index) return;
    const names = namesIn(parseIndex(index.text, `s3://${bucket}/${indexKey(label)}`));
    const previous = parseSha256sums((await getText(client, bucket, objectKey(label, SHA256SUMS), signal))?.text ?? '');
    const prefix = imagesPrefix(label);
    const digests = new Map<string, string>();
    for (const object of await listObjects(client, bucket, prefix, signal)) {
      const name = object.key.slice(prefix.length);
      const owner = [...names].find((image) => name.startsWith(`${image}.`));
      if (name.includes('/') || !owner || name.endsWith('.gpg')) continue;
      digests.set(name, previous.get(name) ?? (await objectSha256(client, bucket, object.key, signal)));
    }
    const sums = sha256sumsText(digests);
    const work = await mkdtemp(join(tmpdir(), 'tailor-sign-'));
    try {
      await writeFile(join(work, SHA256SUMS), sums);
      await writeFile(join(work, 'index'), index.text);
      await signer.withSession(log, async (session) => {
        await session.detachSign(join(work, SHA256SUMS), join(work, SHA256SUMS_SIGNATURE));
        await session.detachSign(join(work, 'index'), join(work, `index${INDEX_SIGNATURE_SUFFIX}`));
      }, signal);
      const put = async (name: string, body: string | Buffer, contentType: string) =>
        putText(client, bucket, objectKey(label, name), body, { contentType, cacheControl: INDEX_CACHE_CONTROL, signal });
      await put(`index${INDEX_SIGNATURE_SUFFIX}`, await readFile(join(work, `index${INDEX_SIGNATURE_SUFFIX}`)), 'application/pgp-signature');
      await put(SHA256SUMS_SIGNATURE, await readFile(join(work, SHA256SUMS_SIGNATURE)), 'application/pgp-signature');
      await put(SHA256SUMS, sums, 'text/plain; charset=utf-8');
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    const now = await headOrUndefined(client, bucket, indexKey(label), signal);
    if (now?.ETag === index.etag) {
      log.info(`signed s3://${bucket}/${objectKey(label, SHA256SUMS)} (${digests.size} files) and the index with key ${signer.fingerprint}`);
      return;
    }
    log.debug(`s3: the index changed while signing (round ${round}); signing again`);
  }
  throw new BuildError(`s3://${bucket}/${indexKey(label)} kept changing while it was signed (${rounds} rounds); run again to re-sign`);
}

async function objectSha256(client: S3Client, bucket: string, key: string, signal?: AbortSignal): Promise<string> {
  const head = await headOrUndefined(client, bucket, key, signal);
  const recorded = head?.Metadata?.sha256;
  if (recorded && /^[0-9a-f]{64}$/.test(recorded)) return recorded;
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
  const bytes = await out.Body!.transformToByteArray();
  return createHash('sha256').update(bytes).digest('hex');
}
