/**
 * A publisher in its own process, for the concurrency and kill tests. It publishes with
 * the real store configured only through the environment (AWS_ENDPOINT_URL_S3, AWS_REGION,
 * credentials), as a CodeBuild job would.
 *
 *   node publish-worker.js <bucket> <image.json> [cloudfront-distribution-id]
 *     publishes one image, printing "PHASE <what>" lines as it goes; exit 0 when done.
 *   forked with IPC and no image argument: publishes every { bucket, image } message it
 *     receives and answers { ok, imageName, error? }.
 * With PUBLISH_WORKER_INDEX_DELAY_MS=<n> each index write waits 0..n ms first (a slow link).
 */
import { readFile } from 'node:fs/promises';
import { BuiltImage } from '../../lib/core/image';
import { BuildLog } from '../../lib/core/log';
import { createS3Client } from '../../lib/core/s3-client';
import { S3ImageStore } from '../../lib/storage/s3/s3-store';
import { delayIndexWrites, INDEX_DELAY_ENV } from './index-write-delay';

const stores = new Map<string, S3ImageStore>();

function storeFor(bucket: string, distribution?: string): S3ImageStore {
  const key = `${bucket}/${distribution ?? ''}`;
  let store = stores.get(key);
  if (!store) {
    const delayMs = Number(process.env[INDEX_DELAY_ENV] ?? 0);
    const client = delayMs > 0
      ? delayIndexWrites(createS3Client(), () => new Promise((resolve) => setTimeout(resolve, Math.random() * delayMs)))
      : undefined;
    store = new S3ImageStore({ bucket, cloudfrontDistributionId: distribution, client });
    stores.set(key, store);
  }
  return store;
}

const printingLog: BuildLog = {
  stageStart: () => undefined,
  stageEnd: () => undefined,
  info: (m) => process.stdout.write(`INFO ${m}\n`),
  warn: (m) => process.stdout.write(`WARN ${m}\n`),
  debug: (m) => process.stdout.write(`PHASE ${m}\n`),
};

function collectingLog(lines: string[]): BuildLog {
  return { ...printingLog, info: (m) => lines.push(m), debug: () => undefined };
}

async function oneShot(bucket: string, imageFile: string, distribution?: string): Promise<void> {
  const image = JSON.parse(await readFile(imageFile, 'utf8')) as BuiltImage;
  process.stdout.write('PHASE start\n');
  await storeFor(bucket, distribution).put(image, printingLog);
  process.stdout.write('PHASE done\n');
}

interface Job {
  bucket: string;
  image: BuiltImage;
}

function serve(): void {
  process.on('message', (job: Job) => {
    const lines: string[] = [];
    const started = Date.now();
    storeFor(job.bucket)
      .put(job.image, collectingLog(lines))
      .then(
        () => process.send?.({ ok: true, imageName: job.image.imageName, ms: Date.now() - started, info: lines }),
        (error: unknown) => process.send?.({ ok: false, imageName: job.image.imageName, error: String((error as Error)?.message ?? error) }),
      );
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.({ ready: true });
}

if (process.argv[3]) {
  oneShot(process.argv[2], process.argv[3], process.argv[4]).catch((error: unknown) => {
    process.stderr.write(`publish failed: ${(error as Error)?.message ?? error}\n`);
    process.exitCode = 1;
  });
} else {
  serve();
}
