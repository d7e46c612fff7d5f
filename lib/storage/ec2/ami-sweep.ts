import { hostname } from 'node:os';
import { DescribeImagesCommand, DescribeSnapshotsCommand, EC2Client, Filter, Image, Snapshot } from '@aws-sdk/client-ec2';
import { BuildLog } from '../../core/log';
import { processRuns } from '../stale-files';
import { AMI_IMAGE_NAME_TAG, AMI_MARKER_TAG, AMI_RELEASE_TAG, AMI_STATE_TAG, AMI_WRITER_TAG, tagValue } from './ami-tags';
import { markRegistered } from './ami-register';
import { deleteSnapshot, removeImage } from './ami-remove';

/**
 * Half-made AMIs of killed publishers: snapshots still tagged `uploading` (pending, error,
 * or completed but never registered), and registered images whose index entry was never
 * written. One is stale, and is deleted, when its writer (the AMI_WRITER_TAG,
 * `<host>:<pid>:<run>`) is gone: on this host a process that no longer runs (or this very
 * process, for an upload it no longer makes), on another host only after
 * SNAPSHOT_STALE_AFTER_MS (a pid means nothing there). A snapshot in `error` is stale at once.
 */
export const SNAPSHOT_STALE_AFTER_MS = 6 * 60 * 60 * 1000;

/** Snapshots and images this process is making now: never swept. */
const live = new Set<string>();

export function holdLive(id: string): () => void {
  live.add(id);
  return () => live.delete(id);
}

export interface SweepOptions {
  ec2: EC2Client;
  releaseLabel: string;
  log: BuildLog;
  staleAfterMs?: number;
  now?: number;
  signal?: AbortSignal;
}

function writerGone(writer: string | undefined, started: Date | undefined, options: SweepOptions): boolean {
  const age = (options.now ?? Date.now()) - (started?.getTime() ?? 0);
  const [host, pidText] = (writer ?? '').split(':');
  const pid = Number(pidText);
  if (host === hostname() && Number.isInteger(pid)) {
    if (pid === process.pid) return true; // this process: `live` holds what it still makes
    if (!processRuns(pid)) return true;
  }
  return age > (options.staleAfterMs ?? SNAPSHOT_STALE_AFTER_MS);
}

async function describeAll<T>(fetch: (token?: string) => Promise<{ items: T[]; next?: string }>): Promise<T[]> {
  const out: T[] = [];
  let token: string | undefined;
  do {
    const page = await fetch(token);
    out.push(...page.items);
    token = page.next;
  } while (token);
  return out;
}

const releaseFilter = (label: string): Filter[] => [
  { Name: 'tag-key', Values: [AMI_MARKER_TAG] },
  { Name: `tag:${AMI_RELEASE_TAG}`, Values: [label] },
];

/** Deletes the release's stale `uploading` snapshots; returns their ids. */
export async function sweepSnapshots(options: SweepOptions): Promise<string[]> {
  const { ec2, signal } = options;
  const snapshots = await describeAll<Snapshot>(async (NextToken) => {
    const answer = await ec2.send(
      new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: [...releaseFilter(options.releaseLabel), { Name: `tag:${AMI_STATE_TAG}`, Values: ['uploading'] }], NextToken }),
      { abortSignal: signal },
    );
    return { items: answer.Snapshots ?? [], next: answer.NextToken };
  });
  const removed: string[] = [];
  for (const snapshot of snapshots) {
    const id = snapshot.SnapshotId;
    if (!id || live.has(id)) continue;
    if (snapshot.State !== 'error' && !writerGone(tagValue(snapshot.Tags, AMI_WRITER_TAG), snapshot.StartTime, options)) continue;
    const users = await ec2.send(
      new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'block-device-mapping.snapshot-id', Values: [id] }] }),
      { abortSignal: signal },
    );
    if ((users.Images ?? []).length > 0) {
      // Registered, but killed before it was retagged: the image's own sweep judges it.
      await markRegistered(ec2, id, signal);
      continue;
    }
    await deleteSnapshot(ec2, id, signal);
    options.log.info(`deleted snapshot ${id} of ${tagValue(snapshot.Tags, AMI_IMAGE_NAME_TAG) ?? 'an unknown image'}, left by a publisher that stopped (${snapshot.State})`);
    removed.push(id);
  }
  return removed;
}

/**
 * Deregisters the release's images that no index names (and no entry object will name:
 * `known` says), and deletes their snapshots, when their writer is gone. An image a
 * cleanup removed from the index but did not get to deregister goes the same way.
 */
export async function sweepImages(options: SweepOptions & { known: (imageName: string) => Promise<boolean> }): Promise<string[]> {
  const { ec2, signal } = options;
  const images = await describeAll<Image>(async (NextToken) => {
    const answer = await ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: releaseFilter(options.releaseLabel), NextToken }), { abortSignal: signal });
    return { items: answer.Images ?? [], next: answer.NextToken };
  });
  const removed: string[] = [];
  for (const image of images) {
    const id = image.ImageId;
    const name = tagValue(image.Tags, AMI_IMAGE_NAME_TAG);
    if (!id || !name || live.has(id) || live.has(name)) continue;
    if (await options.known(name)) continue;
    const created = image.CreationDate ? new Date(image.CreationDate) : undefined;
    if (!writerGone(tagValue(image.Tags, AMI_WRITER_TAG), created, options)) continue;
    const snapshots = await removeImage(ec2, id, [], signal);
    options.log.info(`deregistered ${id} (${name}) and deleted ${snapshots.length} snapshot(s): no index names it`);
    removed.push(id);
  }
  return removed;
}
