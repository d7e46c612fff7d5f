import { CloudFrontClient, CreateInvalidationCommand } from '@aws-sdk/client-cloudfront';

/**
 * Invalidates paths on a CloudFront distribution (tailor invalidated the index after each
 * publish). Images are immutable under their own names, so only the index ever needs it.
 */
export async function invalidatePaths(
  client: CloudFrontClient,
  distributionId: string,
  paths: string[],
  callerReference: string,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const items = paths.map((p) => (p.startsWith('/') ? p : `/${p}`));
  const out = await client.send(
    new CreateInvalidationCommand({
      DistributionId: distributionId,
      InvalidationBatch: { CallerReference: callerReference, Paths: { Quantity: items.length, Items: items } },
    }),
    { abortSignal: signal },
  );
  return out.Invalidation?.Id;
}
