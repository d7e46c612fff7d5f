import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { CloudFrontClient } from '@aws-sdk/client-cloudfront';
import { Artifact, BuiltImage, mainArtifact } from '../../core/image';
import { requireHostTools } from '../../core/host-tools';
import { BuildLog, silentLog } from '../../core/log';
import { checkPushTarget, pushBuiltImage } from '../registry/push';
import { ArchImage, multiArchImages } from '../registry/image-index';
import { pushImageIndex } from '../registry/multi-arch';
import { checksumFiles, manifestFileName, sbomFileNames, sbomFiles } from '../side-files';
import { BuildError, UsageError } from '../../core/errors';
import { rewriteBucketStreams } from './bucket-streams';
import { checkReleaseAccess } from './s3-access';
import { createCloudFrontClient, createS3Client } from '../../core/s3-client';
import { invalidatePaths } from './s3-cloudfront';
import { ConditionMode, listEntryObjects, namesIn, readS3Index, S3IndexWriter, StoredEntry, putEntryObject } from './s3-index';
import { entryKey, indexKey, objectKey, removedKey } from './s3-keys';
import { deleteObject, headOrUndefined, putText } from './s3-objects';
import { listTombstoned, putTombstones } from './s3-tombstones';
import { DEFAULT_TUNING, UploadTuning, uploadFile } from './s3-upload';
import { ImageStore, PlannedImage, StoredFile, StoredImage } from '../store';
import { entryAt, entryFor, IndexSlot, SlotTakenError, TailorIndex, withEntryInFreeSlot } from '../indexes/tailor-index';
import { checkSlotFree } from '../planned-slot';
import { AmiPublishSettings, PublishedAmi, publishAmi } from '../ec2/ami-publish';
import { removeAmi } from '../ec2/ami-remove';
import { sweepImages } from '../ec2/ami-sweep';
import { createAmiClients } from '../ec2/ec2-clients';
import { checkAmiAccess } from '../ec2/ami-access';
import { OpenPgpSigner } from '../signing/openpgp-signer';
import { signS3Release } from './s3-signing';

/**
 * Where the signatures of a release's pushed docker images are published, under the
 * release's own prefix (what grantPublish covers): `<label>/images/signatures/` is the
 * lookaside base podman is pointed at.
 */
export const SIGNATURES_FOLDER = 'signatures';

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}
import { byteProgressOf } from '../../core/progress';

/** Images never change under their name: a CDN may keep them for a year without asking. */
export const IMAGE_CACHE_CONTROL = 'public, max-age=31536000, immutable';

export interface S3StoreOptions {
  bucket: string;
  /** Invalidate the index path on this distribution after each publish. */
  cloudfrontDistributionId?: string;
  /** Defaults to a client from the standard SDK configuration chain. */
  client?: S3Client;
  cloudFront?: CloudFrontClient;
  tuning?: UploadTuning;
  /** Rounds of the index update before giving up. */
  maxIndexRounds?: number;
  /**
   * The images of the run: verify() checks access to each one's release prefix and that
   * each docker image has a registry; put() pushes docker images to theirs before indexing.
   */
  images?: PlannedImage[];
  /** How `ami` images are registered (copies, shares); see lib/storage/ec2/. */
  ami?: AmiPublishSettings;
  /** `--signing-key`: SHA256SUMS.gpg and index.gpg for each release written, and signed docker pushes. */
  signingKey?: string;
}

export function contentTypeOf(fileName: string): string {
  if (fileName.endsWith('.tar.gz') || fileName.endsWith('.tgz')) return 'application/gzip';
  if (fileName.endsWith('.xz')) return 'application/x-xz';
  if (fileName.endsWith('.zst')) return 'application/zstd';
  if (fileName.endsWith('.tar')) return 'application/x-tar';
  if (fileName.endsWith('.spdx.json')) return 'application/spdx+json';
  if (fileName.endsWith('.cdx.json')) return 'application/vnd.cyclonedx+json';
  if (fileName.endsWith('.json')) return 'application/json';
  if (/\.(md5|sha256|manifest|txt)$/.test(fileName)) return 'text/plain; charset=utf-8';
  return 'application/octet-stream';
}

/** One line for an SDK error: its name, HTTP status and message. */
export function describeS3Error(error: unknown): string {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  const message = (e?.message ?? String(error)).split('\n')[0];
  const name = e?.name && e.name !== 'Error' && !message.includes(e.name) ? `${e.name}: ` : '';
  return `${name}${message}${status ? ` (HTTP ${status})` : ''}`;
}

/** Turns a failure of a publish step into one BuildError line naming the step. */
function failedWhile(imageName: string, signal?: AbortSignal) {
  return (what: string) => (error: unknown): never => {
    if (signal?.aborted || error instanceof BuildError) throw error;
    throw new BuildError(`publish of ${imageName} failed while ${what}: ${describeS3Error(error)}`);
  };
}

/**
 * The publish store: every artifact goes to s3://<bucket>/<release_label>/images/, is read
 * back and checked, then its entry object is written, then the tailor index is updated
 * (see s3-index.ts for why no entry is ever lost), then CloudFront is told, if configured.
 */
export class S3ImageStore implements ImageStore {
  readonly mode = 'publish' as const;
  readonly bucket: string;
  private readonly options: S3StoreOptions;
  private clientInstance?: S3Client;
  /** How this server takes conditional index writes, learnt by the first publish. */
  private conditionMode: ConditionMode = 'quoted';
  private signer?: OpenPgpSigner;

  constructor(options: S3StoreOptions) {
    this.options = options;
    this.bucket = options.bucket;
  }

  private get client(): S3Client {
    return (this.clientInstance ??= this.options.client ?? createS3Client());
  }

  describe(): string {
    const cdn = this.options.cloudfrontDistributionId ? `, CloudFront ${this.options.cloudfrontDistributionId}` : '';
    return `publish: s3://${this.bucket}/<release_label>/images/ (index <release_label>/images/index${cdn})`;
  }

  /**
   * Before any work: each docker image has a registry (and skopeo is there), each planned
   * release can be listed and its index read (not valid JSON, or not the tailor shape: a
   * BuildError), and no planned image is indexed already, removed before (a tombstone: names
   * are never reused) or finds its slot taken (UsageErrors: pick another --timestamp).
   */
  async verify(): Promise<void> {
    if (this.options.signingKey) this.signer = await OpenPgpSigner.fromFile(this.options.signingKey, silentLog);
    const planned = this.options.images ?? [];
    const pushed = planned.filter((image) => image.push);
    for (const image of pushed) checkPushTarget(image.push!);
    if (pushed.length > 0) requireHostTools([{ command: 'skopeo', package: 'skopeo' }]);
    // Every call a publish makes that can be tried without changing anything is tried here,
    // for every release of the run, before any work (s3-access.ts); none needs more than
    // ImageStore.grantPublish gives.
    const labels = [...new Set(planned.map((image) => image.releaseLabel))];
    try {
      for (const label of labels) await checkReleaseAccess(this.client, this.bucket, label);
      if (labels.length === 0) await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, MaxKeys: 1 }));
    } catch (error) {
      throw new BuildError(`cannot publish to s3://${this.bucket}: ${describeS3Error(error)}`);
    }
    const amiLabels = [...new Set(planned.filter((image) => image.buildType === 'ami').map((image) => image.releaseLabel))];
    if (amiLabels.length > 0) await checkAmiAccess(amiLabels, this.options.ami?.clients);
    for (const label of labels) {
      const where = `s3://${this.bucket}/${indexKey(label)}`;
      const options = { client: this.client, bucket: this.bucket, releaseLabel: label, log: silentLog };
      const { index } = await readS3Index(options).catch((error: unknown): never => {
        throw new BuildError(error instanceof Error && error.message.startsWith(where) ? error.message : `cannot read ${where}: ${describeS3Error(error)}`);
      });
      for (const image of planned.filter((p) => p.releaseLabel === label)) {
        checkSlotFree(image, index, where);
        if ((await listTombstoned(options, image.imageName)).has(image.imageName)) {
          throw new UsageError(`${image.imageName} was published to s3://${this.bucket}/${objectKey(label, '')} and removed; an image name is never reused (pick another --timestamp)`);
        }
      }
    }
  }

  async put(built: BuiltImage, log: BuildLog, signal?: AbortSignal): Promise<StoredImage> {
    let image = built;
    const push = this.options.images?.find((planned) => planned.imageName === image.imageName)?.push;
    if (push && image.buildType === 'docker') {
      // The registry first: the index entry then names the pushed reference.
      const pushed = await this.push(image, push, log, signal);
      image = { ...image, reference: pushed.pinned ?? pushed.reference };
      log.info(`pushed ${image.reference}${this.signer ? ` (signed by ${this.signer.fingerprint})` : ''}`);
    }
    const stage = failedWhile(image.imageName, signal);
    const label = image.releaseLabel;
    const files: StoredFile[] = [];
    for (const artifact of image.artifacts) {
      files.push(await this.uploadArtifact(label, artifact, log, signal).catch(stage(`uploading ${artifact.fileName}`)));
    }
    await this.putSideFiles(image, log, signal).catch(stage('uploading its checksum and manifest files'));

    // An ami image: the AMI is registered after its files are in place and before its entry
    // is written, so no entry ever names an AMI that is not there (lib/storage/ec2/).
    let ami: PublishedAmi | undefined;
    if (image.buildType === 'ami') ami = await publishAmi(image, this.options.ami ?? {}, log, signal).catch(stage('registering its AMI'));
    try {
      return await this.index(image, files, ami, log, signal);
    } finally {
      ami?.release();
    }
  }

  /** Writes the entry object and the index (then streams and CloudFront) for uploaded files. */
  private async index(image: BuiltImage, files: StoredFile[], ami: PublishedAmi | undefined, log: BuildLog, signal?: AbortSignal): Promise<StoredImage> {
    const stage = failedWhile(image.imageName, signal);
    const label = image.releaseLabel;
    const { slot, entry } = entryFor(image);
    if (ami) entry.ami = ami.record;
    const stored: StoredEntry = { slot, entry };
    const indexOptions = { client: this.client, bucket: this.bucket, releaseLabel: label, log, signal, maxRounds: this.options.maxIndexRounds };
    const entryKeyWritten = await putEntryObject(indexOptions, stored).catch(async (error: unknown) => {
      if (ami && !signal?.aborted) await this.removeAmiOf(image, ami, log);
      return stage('writing its index entry')(error);
    });
    log.debug(`s3: entry written s3://${this.bucket}/${entryKeyWritten}`);

    const where = `s3://${this.bucket}/${indexKey(label)}`;
    const writer = new S3IndexWriter(indexOptions, this.conditionMode);
    const result = await writer
      .update((index) => withEntryInFreeSlot(index, slot, entry, where))
      .catch(async (error: unknown) => {
        this.conditionMode = writer.conditionMode;
        if (!(error instanceof SlotTakenError)) return stage('updating the index')(error);
        // Another image took the slot first: this one is withdrawn, never indexed.
        await this.withdraw(image, slot, log, signal);
        if (ami) await this.removeAmiOf(image, ami, log);
        throw new BuildError(`${error.message} (${image.imageName} was not published: its objects are removed)`);
      });
    this.conditionMode = writer.conditionMode;
    if (entryAt(result.index, slot)?.file !== image.imageName) {
      if (ami) await this.removeAmiOf(image, ami, log);
      throw new BuildError(`${image.imageName} was not indexed: a tombstone in s3://${this.bucket}/${removedKey(label, image.imageName)} says it was removed`);
    }
    if (ami) await this.sweepUnindexedImages(label, result.index, log, signal);
    log.info(`published ${image.imageName} to s3://${this.bucket}/${objectKey(label, '')} (index: ${result.writes} write(s), ${result.conflicts} lost race(s))`);

    // The simplestreams files (docs/IMAGE_SERVER.md) follow the index. They are rebuilt from
    // every index, so a failure here is repaired by the next publish: a warning, not a failure.
    const streams = await rewriteBucketStreams({ client: this.client, bucket: this.bucket, signal }).catch((error: unknown) => {
      if (signal?.aborted) throw error;
      log.warn(`simplestreams files in s3://${this.bucket}/streams/v1 not updated: ${describeS3Error(error)}`);
      return undefined;
    });
    if (streams) log.debug(`s3: streams/v1 updated (${streams.writes} write(s))`);

    if (this.options.signingKey) {
      this.signer ??= await OpenPgpSigner.fromFile(this.options.signingKey, log);
      await signS3Release({ client: this.client, bucket: this.bucket, releaseLabel: label, signer: this.signer, log, signal }).catch((error: unknown) => {
        if (signal?.aborted) throw error;
        const why = error instanceof BuildError ? error.message : describeS3Error(error);
        throw new BuildError(`${image.imageName} is published, but its release was not re-signed (${why}); the next publish or cleanup with --signing-key signs it`);
      });
    }

    await this.invalidate(label, image.imageName, log, signal);
    // Several architectures of this build pushed: their image index under the usual tag (CONTAINERS.md).
    const push = this.options.images?.find((planned) => planned.imageName === image.imageName)?.push;
    const archImages = push && image.buildType === 'docker' ? multiArchImages(result.index, slot) : undefined;
    if (push && archImages) {
      await this.pushIndex(image, archImages, push, log, signal).catch((error: unknown) => {
        if (signal?.aborted) throw error;
        throw new BuildError(`${image.imageName} is published, but the image index of its architectures was not pushed (${error instanceof Error ? error.message : String(error)})`);
      });
    }
    return {
      imageName: image.imageName,
      mode: this.mode,
      files,
      index: `s3://${this.bucket}/${indexKey(label)}`,
      ...(image.reference ? { reference: image.reference } : {}),
    };
  }

  /**
   * Pushes a docker image; with a signing key, signed (skopeo --sign-by) and its signature
   * published under `<label>/images/signatures/` (the lookaside layout podman reads, see
   * docs/SIGNING.md) before the index names the image.
   */
  private async push(image: BuiltImage, target: { registry?: string; repository?: string }, log: BuildLog, signal?: AbortSignal) {
    const signer = this.signer ?? (this.options.signingKey ? (this.signer = await OpenPgpSigner.fromFile(this.options.signingKey, log)) : undefined);
    if (!signer) return pushBuiltImage(image, target, { log, signal });
    return this.withLookaside(image.releaseLabel, log, signal, (lookasideDir) =>
      signer.withSession(log, (session) => pushBuiltImage(image, target, { log, signal, signing: { session, lookasideDir } }), signal));
  }

  /** Runs a signed push with a lookaside folder, then publishes the signatures it wrote under `<label>/images/signatures/`. */
  private async withLookaside<T>(label: string, log: BuildLog, signal: AbortSignal | undefined, body: (lookasideDir: string) => Promise<T>): Promise<T> {
    const lookasideDir = await mkdtemp(join(tmpdir(), 'tailor-sigs-'));
    try {
      const result = await body(lookasideDir);
      for (const file of await listFiles(lookasideDir)) {
        const key = objectKey(label, `${SIGNATURES_FOLDER}/${relative(lookasideDir, file)}`);
        await putText(this.client, this.bucket, key, await readFile(file), { contentType: 'application/octet-stream', cacheControl: IMAGE_CACHE_CONTROL, signal });
        log.debug(`s3: wrote ${key}`);
      }
      return result;
    } finally {
      await rm(lookasideDir, { recursive: true, force: true });
    }
  }

  /** Pushes the multi-arch image index; with a signing key, signed, its signature published as an image's is. */
  private async pushIndex(image: BuiltImage, images: ArchImage[], target: { registry?: string; repository?: string }, log: BuildLog, signal?: AbortSignal) {
    const options = { images, image, target: { registry: checkPushTarget(target), repository: target.repository }, log, signal };
    const signer = this.signer;
    const pushed = signer
      ? await this.withLookaside(image.releaseLabel, log, signal, (lookasideDir) =>
        signer.withSession(log, (session) => pushImageIndex({ ...options, signing: { session, lookasideDir } }), signal))
      : await pushImageIndex(options);
    log.info(`pushed the image index ${pushed.reference} (${pushed.digest}${signer ? `, signed by ${signer.fingerprint}` : ''})`);
  }

  private async uploadArtifact(label: string, artifact: Artifact, log: BuildLog, signal?: AbortSignal): Promise<StoredFile> {
    const key = objectKey(label, artifact.fileName);
    const stored: StoredFile = { fileName: artifact.fileName, location: `s3://${this.bucket}/${key}`, size: artifact.size, md5: artifact.md5, sha256: artifact.sha256 };
    // Image names are never reused for other bytes (a CDN may cache them for a year). The
    // same bytes again (a retried job) is fine and costs nothing.
    const existing = await headOrUndefined(this.client, this.bucket, key, signal);
    if (existing) {
      if (existing.ContentLength === artifact.size && existing.Metadata?.sha256 === artifact.sha256) {
        log.info(`${artifact.fileName} is already published with the same content`);
        return stored;
      }
      throw new BuildError(`s3://${this.bucket}/${key} already exists with other content; an image name is never reused`);
    }
    const started = Date.now();
    log.debug(`s3: upload ${key}`);
    const progress = byteProgressOf(log, `upload ${artifact.fileName}`);
    await uploadFile(
      this.client,
      {
        bucket: this.bucket,
        key,
        path: artifact.path,
        digest: artifact,
        contentType: contentTypeOf(artifact.fileName),
        cacheControl: IMAGE_CACHE_CONTROL,
        signal,
        onProgress: progress,
      },
      this.options.tuning ?? DEFAULT_TUNING,
    );
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    log.debug(`s3: verified ${key}`);
    log.info(`uploaded ${artifact.fileName} (${(artifact.size / 1048576).toFixed(1)} MiB, ${(artifact.size / 1048576 / seconds).toFixed(1)} MiB/s)`);
    return stored;
  }

  /** `<image>.md5`, `<image>.sha256` in md5sum/sha256sum format, `<image>.manifest` and the SBOMs. */
  private async putSideFiles(image: BuiltImage, log: BuildLog, signal?: AbortSignal): Promise<void> {
    mainArtifact(image);
    const side = checksumFiles(image);
    try {
      side.push({ fileName: manifestFileName(image), text: await readFile(image.manifestPath, 'utf8') });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      log.warn(`${image.imageName} has no package manifest; publishing without one`);
    }
    for (const sbom of sbomFiles(image)) side.push({ fileName: sbom.fileName, text: await readFile(sbom.path, 'utf8') });
    await Promise.all(
      side.map(async ({ fileName, text }) => {
        const key = objectKey(image.releaseLabel, fileName);
        await putText(this.client, this.bucket, key, text, { contentType: contentTypeOf(fileName), cacheControl: IMAGE_CACHE_CONTROL, signal });
        log.debug(`s3: wrote ${key}`);
      }),
    );
  }

  /**
   * Takes back an image that lost its index slot: a tombstone first (so no writer ever
   * merges its entry object, even where the deletes below are not allowed: grantPublish
   * has no s3:DeleteObject), then its entry object, its files and side files. Objects that
   * cannot be deleted stay unnamed, with a warning.
   */
  private async withdraw(image: BuiltImage, slot: IndexSlot, log: BuildLog, signal?: AbortSignal): Promise<void> {
    const label = image.releaseLabel;
    await putTombstones({ client: this.client, bucket: this.bucket, releaseLabel: label, signal }, [{ file: image.imageName, slot, reason: 'withdrawn' }]);
    const keys = [
      entryKey(label, image.imageName),
      ...image.artifacts.map((artifact) => objectKey(label, artifact.fileName)),
      ...[...checksumFiles(image), { fileName: manifestFileName(image) }].map((file) => objectKey(label, file.fileName)),
      ...(image.sbomPaths ? Object.values(sbomFileNames(image)).map((fileName) => objectKey(label, fileName)) : []),
    ];
    const kept: string[] = [];
    for (const key of keys) {
      await deleteObject(this.client, this.bucket, key, undefined, signal).catch((error: unknown) => {
        kept.push(`${key} (${describeS3Error(error)})`);
      });
    }
    if (kept.length > 0) log.warn(`${image.imageName} is withdrawn, but these objects stay, unnamed: ${kept.join(', ')}`);
  }

  /** Takes back the AMI of an image that is not indexed after all (a warning if it cannot). */
  private async removeAmiOf(image: BuiltImage, ami: PublishedAmi, log: BuildLog): Promise<void> {
    const clients = this.options.ami?.clients ?? createAmiClients();
    try {
      await removeAmi(ami.record, (region) => clients.ec2(region));
    } catch (error) {
      log.warn(`the AMI of ${image.imageName} stays registered (${Object.values(ami.record.images).join(', ')}): ${describeS3Error(error)}; the next publish or cleanup removes it`);
    } finally {
      if (!this.options.ami?.clients) clients.destroy();
    }
  }

  /** Deregisters the release's images that publishers killed before their entry left behind. */
  private async sweepUnindexedImages(label: string, index: TailorIndex, log: BuildLog, signal?: AbortSignal): Promise<void> {
    const clients = this.options.ami?.clients ?? createAmiClients();
    try {
      const named = namesIn(index);
      const entries = new Set((await listEntryObjects({ client: this.client, bucket: this.bucket, releaseLabel: label, log, signal })).map((e) => e.name));
      await sweepImages({ ec2: clients.ec2(), releaseLabel: label, log, signal, known: async (name) => named.has(name) || entries.has(name) });
    } catch (error) {
      if (signal?.aborted) throw error;
      log.warn(`unindexed AMIs of ${label} not swept: ${describeS3Error(error)}`);
    } finally {
      if (!this.options.ami?.clients) clients.destroy();
    }
  }

  private async invalidate(label: string, imageName: string, log: BuildLog, signal?: AbortSignal): Promise<void> {
    const distribution = this.options.cloudfrontDistributionId;
    if (!distribution) return;
    const path = `/${indexKey(label)}`;
    const client = this.options.cloudFront ?? createCloudFrontClient();
    try {
      const signed = this.options.signingKey ? [`/${objectKey(label, 'SHA256SUMS')}*`, `/${indexKey(label)}.gpg`] : [];
      const id = await invalidatePaths(client, distribution, [path, ...signed, '/streams/v1/*'], `${imageName}-${randomUUID()}`, signal);
      log.info(`invalidated ${path} on CloudFront ${distribution}${id ? ` (${id})` : ''}`);
    } catch (error) {
      // The image and the index are in place and the index's max-age is short: the CDN
      // catches up on its own, so a failed invalidation is a warning, not a failed build.
      log.warn(`CloudFront invalidation of ${path} on ${distribution} failed: ${describeS3Error(error)}`);
    } finally {
      if (!this.options.cloudFront) client.destroy();
    }
  }
}

export function createS3Store(
  storage: { bucket: string; cloudfrontDistributionId?: string; ami?: AmiPublishSettings; signingKey?: string },
  images: PlannedImage[] = [],
): S3ImageStore {
  return new S3ImageStore({
    bucket: storage.bucket,
    cloudfrontDistributionId: storage.cloudfrontDistributionId,
    images,
    ami: storage.ami,
    signingKey: storage.signingKey,
  });
}
