import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { listEntries, parseIndex, TailorIndex } from '../../lib/storage/indexes/tailor-index';

/** Test-side readers of a published release, written against the bucket layout, not the store. */

export async function readIndex(client: S3Client, bucket: string, label: string): Promise<TailorIndex | undefined> {
  try {
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: `${label}/images/index` }));
    return parseIndex(await out.Body!.transformToString(), 'index');
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined;
    throw error;
  }
}

export async function objectBytes(client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

export async function headOrUndefined(client: S3Client, bucket: string, key: string) {
  try {
    return await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined;
    throw error;
  }
}

/**
 * What a consumer of the tailor index does: walk timestamp -> key -> name -> distribution,
 * take `file` (the image name) and `checksum` (md5). Returns, for every entry, the problems
 * found with the objects it names (empty when the entry is whole): the image object must
 * exist with the indexed size and md5 metadata, and `<file>.md5` must say the same md5.
 */
export async function problemsWithIndex(client: S3Client, bucket: string, label: string, index: TailorIndex): Promise<string[]> {
  const problems: string[] = [];
  for (const [timestamp, keys] of Object.entries(index)) {
    for (const [key, names] of Object.entries(keys)) {
      for (const [name, distributions] of Object.entries(names)) {
        for (const [distribution, entry] of Object.entries(distributions)) {
          const where = `${timestamp}/${key}/${name}/${distribution}`;
          if (typeof entry.file !== 'string' || !/^[0-9a-f]{32}$/.test(entry.checksum)) {
            problems.push(`${where}: not a tailor entry`);
            continue;
          }
          const artifact = entry.artifact ?? `${entry.file}.tar.gz`;
          const head = await headOrUndefined(client, bucket, `${label}/images/${artifact}`);
          if (!head) problems.push(`${where}: ${artifact} is missing`);
          else {
            if (entry.size !== undefined && head.ContentLength !== entry.size) problems.push(`${where}: ${artifact} has ${head.ContentLength} bytes, index says ${entry.size}`);
            if (head.Metadata?.md5 !== entry.checksum) problems.push(`${where}: ${artifact} md5 metadata ${head.Metadata?.md5} != ${entry.checksum}`);
          }
          const md5File = await headOrUndefined(client, bucket, `${label}/images/${entry.file}.md5`);
          if (!md5File) problems.push(`${where}: ${entry.file}.md5 is missing`);
          else {
            const line = (await objectBytes(client, bucket, `${label}/images/${entry.file}.md5`)).toString();
            if (line !== `${entry.checksum}  ${artifact}\n`) problems.push(`${where}: ${entry.file}.md5 says "${line.trim()}"`);
          }
        }
      }
    }
  }
  return problems;
}

export function indexedNames(index: TailorIndex | undefined): string[] {
  return index ? listEntries(index).map((e) => e.entry.file).sort() : [];
}

export function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}
