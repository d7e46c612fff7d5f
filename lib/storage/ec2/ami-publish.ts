import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DEFAULT_ARCHITECTURE, architectureNames } from '../../core/architecture';
import { BuiltImage, mainArtifact } from '../../core/image';
import { BuildLog } from '../../core/log';
import { sleep } from '../../core/sleep';
import { AmiRecord } from './ami-record';
import { AmiArchitecture, copyImage, markRegistered, registerImage, shareImage, waitForSnapshot } from './ami-register';
import { deleteSnapshot, removeAmi } from './ami-remove';
import { holdLive, sweepImages, sweepSnapshots } from './ami-sweep';
import { AMI_WRITER_TAG, imageTags, snapshotTags, writerTag } from './ami-tags';
import { AmiClients, createAmiClients } from './ec2-clients';
import { SnapshotUploadResult, uploadSnapshot } from './snapshot-upload';

/** How `--publish` registers ami images (flags of create_image, props of the factory). */
export interface AmiPublishSettings {
  /** Regions the image is copied to besides the one it is registered in. */
  copyToRegions?: string[];
  /** Accounts allowed to launch it (and to create volumes from its snapshots). */
  shareWithAccounts?: string[];
  /** Block puts in flight, tries per block, wait per retry (ms), snapshot/copy poll (ms). */
  concurrency?: number;
  attempts?: number;
  retryDelayMs?: number;
  pollMs?: number;
  /** Defaults to clients from the standard SDK configuration. */
  clients?: AmiClients;
}

export interface PublishedAmi {
  record: AmiRecord;
  upload: SnapshotUploadResult;
  /** Lets the sweeps judge the image again (call once its index entry is written or it is withdrawn). */
  release(): void;
}

/** EC2's name for the image's architecture (an image without one is amd64: x86_64). */
export function amiArchitecture(image: Pick<BuiltImage, 'architecture'>): AmiArchitecture {
  return architectureNames(image.architecture ?? DEFAULT_ARCHITECTURE).ec2;
}

async function waitForImage(ec2: EC2Client, imageId: string, pollMs: number, signal?: AbortSignal): Promise<void> {
  for (let round = 0; round < 720; round += 1) {
    const state = (await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }), { abortSignal: signal })).Images?.[0]?.State;
    if (state === 'available') return;
    if (state !== 'pending') throw new Error(`image ${imageId} is ${state ?? 'gone'}`);
    await sleep(Math.min(pollMs, 250 * 2 ** round), signal);
  }
  throw new Error(`image ${imageId} is still pending`);
}

/**
 * Makes the AMI of a built `ami` image: sweeps the release's half-made snapshots, uploads
 * the raw disk as a tagged snapshot (snapshot-upload.ts), waits for it, registers it
 * (ami-register.ts), marks the snapshot registered, copies the image to more regions and
 * shares it. Anything that fails on the way is undone (the image deregistered, snapshots
 * deleted), so a failed publish leaves nothing; a killed one leaves at most what the next
 * sweep finds by its tags.
 */
export async function publishAmi(image: BuiltImage, settings: AmiPublishSettings, log: BuildLog, signal?: AbortSignal): Promise<PublishedAmi> {
  const clients = settings.clients ?? createAmiClients();
  const releases: (() => void)[] = [];
  const release = () => releases.forEach((r) => r());
  let snapshotId: string | undefined;
  const record: AmiRecord = { region: '', snapshot: '', images: {} };
  try {
    const region = await clients.region();
    record.region = region;
    const ec2 = clients.ec2();
    const swept = await sweepSnapshots({ ec2, releaseLabel: image.releaseLabel, log, signal }).catch((error: unknown) => {
      if (signal?.aborted) throw error;
      log.warn(`half-made snapshots of ${image.releaseLabel} not swept: ${(error as Error).message}`);
      return [];
    });
    if (swept.length > 0) log.debug(`ec2: swept ${swept.length} snapshot(s)`);
    // A retried job: an image of this name that a killed run registered (no index names it,
    // verify() saw to that) would make RegisterImage a duplicate. Gone writers' go now.
    await sweepImages({ ec2, releaseLabel: image.releaseLabel, log, signal, known: async (name) => name !== image.imageName });
    releases.push(holdLive(image.imageName));

    const writer = writerTag();
    const started = Date.now();
    const upload = await uploadSnapshot({
      ebs: clients.ebs(), path: mainArtifact(image).path, tags: snapshotTags(image, writer), description: `${image.imageName} (tailor-image)`,
      concurrency: settings.concurrency, attempts: settings.attempts, retryDelayMs: settings.retryDelayMs, log, signal,
      onStarted: (id) => {
        snapshotId = id;
        releases.push(holdLive(id));
      },
    });
    record.snapshot = upload.snapshotId;
    await waitForSnapshot(ec2, upload.snapshotId, { pollMs: settings.pollMs, signal });
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    log.info(`uploaded snapshot ${upload.snapshotId} of ${image.imageName} (${upload.sentBlocks} of ${upload.blocks} blocks sent, ${upload.zeroBlocks} zero; ${(upload.rawSize / 1048576 / seconds).toFixed(1)} MiB/s of disk)`);

    const tags = [...imageTags(image), { Key: AMI_WRITER_TAG, Value: writer }];
    const description = `${image.name} ${image.distribution} ${image.releaseLabel} ${image.timestamp} (tailor-image)`;
    const imageId = await registerImage({
      ec2, name: image.imageName, description, snapshotId: upload.snapshotId, volumeSizeGiB: upload.volumeSizeGiB,
      architecture: amiArchitecture(image), tags, signal,
    });
    record.images[region] = imageId;
    await markRegistered(ec2, upload.snapshotId, signal);
    log.info(`registered ${imageId} in ${region} from ${upload.snapshotId}`);

    const accounts = settings.shareWithAccounts ?? [];
    await shareImage(ec2, imageId, upload.snapshotId, accounts, signal);
    for (const target of (settings.copyToRegions ?? []).filter((r) => r !== region)) {
      const targetClient = clients.ec2(target);
      const copy = await copyImage(targetClient, region, imageId, image.imageName, description, signal);
      record.images[target] = copy;
      log.info(`copied ${imageId} to ${target}: ${copy}`);
      if (accounts.length > 0) {
        await waitForImage(targetClient, copy, settings.pollMs ?? 15000, signal);
        const copySnapshot = (await targetClient.send(new DescribeImagesCommand({ ImageIds: [copy] }), { abortSignal: signal })).Images?.[0]
          ?.BlockDeviceMappings?.find((m) => m.Ebs?.SnapshotId)?.Ebs?.SnapshotId;
        await shareImage(targetClient, copy, copySnapshot, accounts, signal);
      }
    }
    if (accounts.length > 0) log.info(`shared ${image.imageName} with ${accounts.length} account(s)`);
    return { record, upload, release };
  } catch (error) {
    // Undo what exists; what cannot be undone now (a dead endpoint, Ctrl-C) the next sweep finds by its tags.
    const undo = async () => {
      if (Object.keys(record.images).length > 0) await removeAmi(record, (r) => clients.ec2(r));
      else if (snapshotId) await deleteSnapshot(clients.ec2(), snapshotId);
    };
    if (!signal?.aborted) await undo().catch((e: unknown) => log.warn(`could not undo the AMI of ${image.imageName}: ${(e as Error).message}`));
    release();
    throw error;
  } finally {
    if (!settings.clients) clients.destroy();
  }
}
