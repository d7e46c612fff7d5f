import { EBSClient } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';

/**
 * EBS direct and EC2 clients configured the standard SDK way, as the S3 client is
 * (lib/core/s3-client.ts): region, credentials and profiles from the environment and the
 * shared files; endpoints from AWS_ENDPOINT_URL_EBS / AWS_ENDPOINT_URL_EC2 (or
 * AWS_ENDPOINT_URL), which the SDK reads itself. `region` picks another region (copies).
 */
export interface AmiClients {
  /** The region the snapshot is uploaded to and the image registered in (the SDK's). */
  region(): Promise<string>;
  ebs(): EBSClient;
  ec2(region?: string): EC2Client;
  destroy(): void;
}

export function createAmiClients(): AmiClients {
  let ebs: EBSClient | undefined;
  const ec2 = new Map<string, EC2Client>();
  const home = (): EC2Client => {
    let client = ec2.get('');
    if (!client) ec2.set('', (client = new EC2Client({ maxAttempts: 5 })));
    return client;
  };
  return {
    region: async () => {
      const region = await home().config.region();
      if (!region) throw new Error('no AWS region is configured (set AWS_REGION) for the AMI publish');
      return region;
    },
    ebs: () => (ebs ??= new EBSClient({ maxAttempts: 3 })),
    ec2: (region?: string) => {
      if (region === undefined) return home();
      let client = ec2.get(region);
      if (!client) ec2.set(region, (client = new EC2Client({ region, maxAttempts: 5 })));
      return client;
    },
    destroy: () => {
      ebs?.destroy();
      for (const client of ec2.values()) client.destroy();
    },
  };
}
