import { DescribeImagesCommand, DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import { BuildError } from '../../core/errors';
import { AMI_MARKER_TAG, AMI_RELEASE_TAG } from './ami-tags';
import { AmiClients, createAmiClients } from './ec2-clients';

/**
 * Before any work, for a run that publishes ami images: a region is configured and the
 * calls a publish makes that change nothing (finding the release's snapshots and images,
 * as the sweeps do) are allowed. A refusal is a BuildError naming the call.
 */
export async function checkAmiAccess(releaseLabels: string[], given?: AmiClients): Promise<void> {
  const clients = given ?? createAmiClients();
  try {
    const region = await clients.region().catch((error: unknown) => {
      throw new BuildError(`cannot publish AMIs: ${(error as Error).message}`);
    });
    for (const label of releaseLabels) {
      const Filters = [{ Name: 'tag-key', Values: [AMI_MARKER_TAG] }, { Name: `tag:${AMI_RELEASE_TAG}`, Values: [label] }];
      for (const [call, send] of [
        ['DescribeSnapshots', () => clients.ec2().send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters, MaxResults: 5 }))],
        ['DescribeImages', () => clients.ec2().send(new DescribeImagesCommand({ Owners: ['self'], Filters, MaxResults: 6 }))],
      ] as const) {
        await (send as () => Promise<unknown>)().catch((error: unknown) => {
          const e = error as { name?: string; message?: string };
          throw new BuildError(`cannot publish AMIs to ${region}: ${call} failed: ${e.name ?? 'error'}: ${(e.message ?? '').split('\n')[0]}`);
        });
      }
    }
  } finally {
    if (!given) clients.destroy();
  }
}
