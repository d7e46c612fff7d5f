import { S3Client } from '@aws-sdk/client-s3';

/**
 * A slow link at the HTTP boundary, for the stale-writer tests: every PUT of a tailor index
 * (`<label>/images/index`) through this client first awaits `before(key)`. A publisher's
 * index write then lands well after the read it was based on, as it does over a real
 * network, so another writer (a cleanup) can come in between.
 */
export function delayIndexWrites(client: S3Client, before: (key: string) => Promise<void>): S3Client {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const key = (args.input as { Key?: string }).Key;
      if (context.commandName === 'PutObjectCommand' && key?.endsWith('/images/index')) await before(key);
      return next(args);
    },
    { step: 'initialize', name: 'delayIndexWrites' },
  );
  return client;
}

/** PUBLISH_WORKER_INDEX_DELAY_MS=<n>: a publish worker delays each index write by 0..n ms. */
export const INDEX_DELAY_ENV = 'PUBLISH_WORKER_INDEX_DELAY_MS';
