import {
  CopyImageCommand, CreateTagsCommand, DescribeSnapshotsCommand, EC2Client, ModifyImageAttributeCommand,
  ModifySnapshotAttributeCommand, RegisterImageCommand,
} from '@aws-sdk/client-ec2';
import { sleep } from '../../core/sleep';
import { AMI_STATE_TAG, Tag } from './ami-tags';

/** The architectures an AMI is registered for (arm64 when the builder makes arm64 disks). */
export type AmiArchitecture = 'x86_64' | 'arm64';

/** The root device of every image the publisher registers. */
export const AMI_ROOT_DEVICE = '/dev/xvda';

/** Waits until a completed upload's snapshot is `completed` (`error`: the upload failed). */
export async function waitForSnapshot(
  ec2: EC2Client,
  snapshotId: string,
  options: { pollMs?: number; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 60 * 60 * 1000);
  for (let round = 0; ; round += 1) {
    const answer = await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }), { abortSignal: options.signal });
    const state = answer.Snapshots?.[0]?.State;
    if (state === 'completed') return;
    if (state === 'error' || state === 'recoverable' || state === undefined) {
      throw new Error(`snapshot ${snapshotId} is ${state ?? 'gone'}: ${answer.Snapshots?.[0]?.StateMessage ?? 'EBS did not take the upload'}`);
    }
    if (Date.now() > deadline) throw new Error(`snapshot ${snapshotId} is still ${state} after ${Math.round((options.timeoutMs ?? 3600000) / 60000)} minutes`);
    await sleep(Math.min(options.pollMs ?? 5000, 250 * 2 ** round), options.signal);
  }
}

export interface RegisterOptions {
  ec2: EC2Client;
  name: string;
  description: string;
  snapshotId: string;
  volumeSizeGiB: number;
  architecture: AmiArchitecture;
  tags: Tag[];
  signal?: AbortSignal;
}

/**
 * Registers the snapshot as an EC2-ready image: UEFI boot, ENA and SR-IOV (simple)
 * networking, IMDSv2 required, HVM, the snapshot as /dev/xvda (gp3, deleted with the
 * instance), tagged like the snapshot.
 */
export async function registerImage(options: RegisterOptions): Promise<string> {
  const answer = await options.ec2.send(
    new RegisterImageCommand({
      Name: options.name,
      Description: options.description,
      Architecture: options.architecture,
      BootMode: 'uefi',
      EnaSupport: true,
      SriovNetSupport: 'simple',
      ImdsSupport: 'v2.0',
      VirtualizationType: 'hvm',
      RootDeviceName: AMI_ROOT_DEVICE,
      BlockDeviceMappings: [
        { DeviceName: AMI_ROOT_DEVICE, Ebs: { SnapshotId: options.snapshotId, VolumeSize: options.volumeSizeGiB, VolumeType: 'gp3', DeleteOnTermination: true } },
      ],
      TagSpecifications: [{ ResourceType: 'image', Tags: options.tags }],
    }),
    { abortSignal: options.signal },
  );
  if (!answer.ImageId) throw new Error('RegisterImage answered without an ImageId');
  return answer.ImageId;
}

/** Marks a snapshot as belonging to a registered image (no sweep takes it then). */
export async function markRegistered(ec2: EC2Client, snapshotId: string, signal?: AbortSignal): Promise<void> {
  await ec2.send(new CreateTagsCommand({ Resources: [snapshotId], Tags: [{ Key: AMI_STATE_TAG, Value: 'registered' }] }), { abortSignal: signal });
}

/** Copies the image into `region` (called on that region's client); the copy keeps the tags. */
export async function copyImage(target: EC2Client, sourceRegion: string, imageId: string, name: string, description: string, signal?: AbortSignal): Promise<string> {
  const answer = await target.send(
    new CopyImageCommand({ SourceRegion: sourceRegion, SourceImageId: imageId, Name: name, Description: description, CopyImageTags: true }),
    { abortSignal: signal },
  );
  if (!answer.ImageId) throw new Error(`CopyImage of ${imageId} to ${await target.config.region()} answered without an ImageId`);
  return answer.ImageId;
}

/** Lets these accounts launch the image and create volumes from its snapshot. */
export async function shareImage(ec2: EC2Client, imageId: string, snapshotId: string | undefined, accounts: string[], signal?: AbortSignal): Promise<void> {
  if (accounts.length === 0) return;
  await ec2.send(
    new ModifyImageAttributeCommand({ ImageId: imageId, LaunchPermission: { Add: accounts.map((UserId) => ({ UserId })) } }),
    { abortSignal: signal },
  );
  if (snapshotId) {
    await ec2.send(
      new ModifySnapshotAttributeCommand({ SnapshotId: snapshotId, Attribute: 'createVolumePermission', OperationType: 'add', UserIds: accounts }),
      { abortSignal: signal },
    );
  }
}
