import { DeleteSnapshotCommand, DeregisterImageCommand, DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { AmiRecord } from './ami-record';

function notFound(error: unknown): boolean {
  const name = (error as { name?: string; Code?: string })?.name ?? '';
  return /NotFound|\.Malformed$/.test(name);
}

/** The snapshots an image's block devices are made from (none if it is gone). */
export async function snapshotsOfImage(ec2: EC2Client, imageId: string, signal?: AbortSignal): Promise<string[]> {
  try {
    const answer = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }), { abortSignal: signal });
    return (answer.Images?.[0]?.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : []));
  } catch (error) {
    if (notFound(error)) return [];
    throw error;
  }
}

export async function deleteSnapshot(ec2: EC2Client, snapshotId: string, signal?: AbortSignal): Promise<void> {
  await ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }), { abortSignal: signal }).catch((error: unknown) => {
    if (!notFound(error)) throw error;
  });
}

/** Deregisters an image and deletes the snapshots it was made from (gone already: fine). */
export async function removeImage(ec2: EC2Client, imageId: string, extraSnapshots: string[] = [], signal?: AbortSignal): Promise<string[]> {
  const snapshots = [...new Set([...(await snapshotsOfImage(ec2, imageId, signal)), ...extraSnapshots])];
  await ec2.send(new DeregisterImageCommand({ ImageId: imageId }), { abortSignal: signal }).catch((error: unknown) => {
    if (!notFound(error)) throw error;
  });
  for (const snapshot of snapshots) await deleteSnapshot(ec2, snapshot, signal);
  return snapshots;
}

/**
 * Removes a published AMI everywhere its record names it: each region's image deregistered
 * and its snapshots deleted (copies have their own). Returns `region:id` of what went.
 */
export async function removeAmi(record: AmiRecord, ec2For: (region: string) => EC2Client, signal?: AbortSignal): Promise<string[]> {
  const removed: string[] = [];
  for (const [region, imageId] of Object.entries(record.images)) {
    const extra = region === record.region ? [record.snapshot] : [];
    const snapshots = await removeImage(ec2For(region), imageId, extra, signal);
    removed.push(`${region}:${imageId}`, ...snapshots.map((s) => `${region}:${s}`));
  }
  if (!(record.region in record.images)) {
    await deleteSnapshot(ec2For(record.region), record.snapshot, signal);
    removed.push(`${record.region}:${record.snapshot}`);
  }
  return removed;
}
