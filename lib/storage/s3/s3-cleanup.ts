import { OpenPgpSigner } from '../signing/openpgp-signer';
import { signS3Release } from './s3-signing';
import { CloudFrontClient } from '@aws-sdk/client-cloudfront';
import { S3Client } from '@aws-sdk/client-s3';
import { BuildLog } from '../../core/log';
import { CleanupItem, CleanupReport } from '../retention/cleanup-report';
import { expiredEntries, ofOrganization, RetentionPolicy } from '../retention/retention';
import { createCloudFrontClient } from '../../core/s3-client';
import { invalidatePaths } from './s3-cloudfront';
import { readS3Index, S3IndexOptions, S3IndexWriter } from './s3-index';
import { rewriteBucketStreams } from './bucket-streams';
import { checkReleaseAccess } from './s3-access';
import { entryKey, indexKey, objectKey } from './s3-keys';
import { deleteObject, forEachLimited, ListedVersion, listVersions } from './s3-objects';
import { AmiEntry, listEntries, TailorIndex, withoutImages } from '../indexes/tailor-index';
import { putTombstones } from './s3-tombstones';
import { removeAmi } from '../ec2/ami-remove';
import { sweepImages, sweepSnapshots } from '../ec2/ami-sweep';
import { AmiClients, createAmiClients } from '../ec2/ec2-clients';
import { listEntryObjects, namesIn } from './s3-index';

export interface S3CleanupOptions {
  client: S3Client;
  bucket: string;
  releaseLabel: string;
  organization: string;
  policy: RetentionPolicy;
  dryRun: boolean;
  log: BuildLog;
  cloudfrontDistributionId?: string;
  cloudFront?: CloudFrontClient;
  /** EC2 clients for releases with ami images (default: the standard SDK configuration). */
  amiClients?: AmiClients;
  signal?: AbortSignal;
  /** A signed release's key: SHA256SUMS and the index are re-signed after the files go. */
  signer?: OpenPgpSigner;
}

/**
 * Removes the images past a retention policy from a published release, in the order that
 * keeps the index truthful and lets publishers run meanwhile:
 *   1. a tombstone for each image (s3-tombstones.ts), so no index writer puts it back: not a
 *      publisher merging its entry object, nor one whose write was based on an index read
 *      before this cleanup (on servers without conditional writes such a write lands);
 *   2. every version of each image's entry object;
 *   3. the index entries, through the same conditional, read-back index update publishers use;
 *   4. every version (and delete marker) of the image, its .md5, .sha256 and .manifest;
 *   5. for ami images, each AMI the entry records deregistered (every region) and its
 *      snapshots deleted; then the release's half-made snapshots and unindexed AMIs of
 *      stopped publishers are swept (lib/storage/ec2/ami-sweep.ts).
 * A cleanup that dies between 3 and 4 leaves only unnamed objects; run it again later or
 * let a lifecycle rule take them. Only images the index names are ever considered.
 */
export async function cleanupS3(options: S3CleanupOptions): Promise<CleanupReport> {
  const { client, bucket, releaseLabel, log, signal } = options;
  // A refused call fails here, before anything is deleted (s3-access.ts).
  await checkReleaseAccess(client, bucket, releaseLabel, { versions: true, signal });
  const indexOptions: S3IndexOptions = { client, bucket, releaseLabel, log, signal };
  const { index } = await readS3Index(indexOptions);
  const candidates = ofOrganization(listEntries(index), options.organization);
  const expired = expiredEntries(candidates, options.policy);

  const planned: { item: CleanupItem; versions: ListedVersion[]; entryVersions: ListedVersion[] }[] = [];
  for (const { slot, entry } of expired) {
    const versions = await listVersions(client, bucket, objectKey(releaseLabel, `${entry.file}.`), signal);
    const entryVersions = (await listVersions(client, bucket, entryKey(releaseLabel, entry.file), signal)).filter(
      (v) => v.key === entryKey(releaseLabel, entry.file),
    );
    const objects = [...new Set(versions.map((v) => v.key))].sort();
    planned.push({
      item: {
        imageName: entry.file,
        timestamp: slot.timestamp,
        name: slot.name,
        distribution: slot.distribution,
        objects: [...objects, ...(entryVersions.length ? [entryKey(releaseLabel, entry.file)] : [])],
        versions: versions.length + entryVersions.length,
        ...(entry.ami ? { amis: [...Object.entries(entry.ami.images).map(([region, id]) => `${region}:${id}`), `${entry.ami.region}:${entry.ami.snapshot}`] } : {}),
      },
      versions,
      entryVersions,
    });
  }
  const report: CleanupReport = {
    location: `s3://${bucket}/${indexKey(releaseLabel)}`,
    dryRun: options.dryRun,
    considered: candidates.length,
    removed: planned.map((p) => p.item),
  };
  if (options.dryRun) return report;
  if (planned.length === 0) {
    if (listEntries(index).some(({ entry }) => entry.ami || entry.build_type === 'ami')) await cleanupAmis(options, [], indexOptions);
    return report;
  }

  const remove = (versions: ListedVersion[]) =>
    forEachLimited(versions, 8, (v) => deleteObject(client, bucket, v.key, v.versionId && v.versionId !== 'null' ? v.versionId : undefined, signal));

  await putTombstones({ client, bucket, releaseLabel, signal }, expired.map(({ slot, entry }) => ({ file: entry.file, slot, reason: 'cleanup' })));
  await remove(planned.flatMap((p) => p.entryVersions));
  const gone = new Set(planned.map((p) => p.item.imageName));
  const writer = new S3IndexWriter(indexOptions);
  await writer.update((current: TailorIndex) => withoutImages(current, gone));
  log.info(`removed ${planned.length} image(s) from ${report.location}`);
  // The streams stop naming the images before their files go (docs/IMAGE_SERVER.md).
  await rewriteBucketStreams({ client, bucket, signal });
  await remove(planned.flatMap((p) => p.versions));
  const withAmi = listEntries(index).some(({ entry }) => entry.ami || entry.build_type === 'ami');
  if (withAmi) await cleanupAmis(options, expired.flatMap(({ entry }) => (entry.ami ? [entry.ami] : [])), indexOptions);
  if (options.signer) await signS3Release({ client, bucket, releaseLabel, signer: options.signer, log, signal });

  if (options.cloudfrontDistributionId) {
    const cloudFront = options.cloudFront ?? createCloudFrontClient();
    try {
      await invalidatePaths(cloudFront, options.cloudfrontDistributionId, [`/${indexKey(releaseLabel)}`, '/streams/v1/*'], `cleanup-${releaseLabel}-${Date.now()}`, signal);
    } catch (error) {
      log.warn(`CloudFront invalidation of /${indexKey(releaseLabel)} failed: ${(error as Error).message}`);
    } finally {
      if (!options.cloudFront) cloudFront.destroy();
    }
  }
  return report;
}

/** Removes the AMIs of expired entries, then sweeps what stopped publishers left (step 5). */
async function cleanupAmis(options: S3CleanupOptions, records: AmiEntry[], indexOptions: S3IndexOptions): Promise<void> {
  const clients = options.amiClients ?? createAmiClients();
  try {
    for (const record of records) {
      const removed = await removeAmi(record, (region) => clients.ec2(region), options.signal);
      options.log.info(`deregistered and deleted ${removed.join(', ')}`);
    }
    const ec2 = clients.ec2();
    const sweep = { ec2, releaseLabel: options.releaseLabel, log: options.log, signal: options.signal };
    await sweepSnapshots(sweep);
    const named = namesIn((await readS3Index(indexOptions)).index);
    const entries = new Set((await listEntryObjects(indexOptions)).map((e) => e.name));
    await sweepImages({ ...sweep, known: async (name) => named.has(name) || entries.has(name) });
  } finally {
    if (!options.amiClients) clients.destroy();
  }
}
