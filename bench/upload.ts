import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomFillSync } from 'node:crypto';
import { DeleteObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { digestFile } from '../lib/core/digest';
import { silentLog } from '../lib/core/log';
import { S3ImageStore } from '../lib/storage/s3/s3-store';
import { startRgw } from '../test/support/rgw';
import { BenchRow } from './types';
import { ratioRow } from './util';

const SIZE = 1024 * 1024 * 1024;
const ROUNDS = Number(process.env.BENCH_UPLOAD_ROUNDS ?? 2);

async function writeRandomFile(path: string, size: number): Promise<void> {
  const out = createWriteStream(path);
  const chunk = Buffer.alloc(8 << 20);
  for (let written = 0; written < size; written += chunk.length) {
    randomFillSync(chunk);
    if (!out.write(chunk.subarray(0, Math.min(chunk.length, size - written)))) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr = (stderr + c).slice(-2000)));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} failed (${code}): ${stderr.trim().split('\n').pop()}`))));
  });
}

/**
 * Upload throughput of a 1 GiB image through the publish store (multipart, parallel parts,
 * hashing on the way, read-back verification) against rclone uploading the same file to
 * the same Ceph RGW in the same run. The best of BENCH_UPLOAD_ROUNDS rounds each,
 * alternating, so neither gets a warmer server. Target: ratio >= 1.0 (ours / rclone).
 */
export async function benchUpload(): Promise<BenchRow[]> {
  const rgw = await startRgw();
  const work = await mkdtemp(join(tmpdir(), 'bench-upload-'));
  const s3 = rgw.client();
  try {
    await rgw.createBucket('bench');
    const path = join(work, 'acme_bench_bookworm_bench_20260101.000000.tar.gz');
    await writeRandomFile(path, SIZE);
    const digest = await digestFile(path);
    // rclone reads its remote from the environment; keys never go on a command line.
    const rcloneEnv: NodeJS.ProcessEnv = {
      ...process.env,
      RCLONE_CONFIG_BENCH_TYPE: 's3',
      RCLONE_CONFIG_BENCH_PROVIDER: 'Ceph',
      RCLONE_CONFIG_BENCH_ENDPOINT: rgw.endpoint,
      RCLONE_CONFIG_BENCH_REGION: rgw.region,
      RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: rgw.accessKeyId,
      RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: rgw.secretAccessKey,
      RCLONE_CONFIG: '/dev/null',
    };
    // The endpoint is plain http on loopback; a CA bundle meant for other hosts only makes
    // rclone's AWS SDK refuse its own transport.
    delete rcloneEnv.AWS_CA_BUNDLE;
    const store = new S3ImageStore({ bucket: 'bench', client: s3 });
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      let start = process.hrtime.bigint();
      await run('rclone', ['copyto', path, `bench:bench/rclone/${round}.tar.gz`], rcloneEnv);
      theirs.push(Number(process.hrtime.bigint() - start) / 1e9);
      const head = await s3.send(new HeadObjectCommand({ Bucket: 'bench', Key: `rclone/${round}.tar.gz` }));
      if (head.ContentLength !== SIZE) throw new Error(`rclone stored ${head.ContentLength} bytes`);
      await s3.send(new DeleteObjectCommand({ Bucket: 'bench', Key: `rclone/${round}.tar.gz` }));

      const label = `bench${round}`;
      start = process.hrtime.bigint();
      await store.put(
        {
          imageName: 'acme_bench_bookworm_bench_20260101.000000',
          name: 'bench',
          distribution: 'bookworm',
          organization: 'acme',
          releaseLabel: label,
          timestamp: '20260101.000000',
          buildType: 'lxd',
          indexKey: 'raw',
          artifacts: [{ ...digest, fileName: 'acme_bench_bookworm_bench_20260101.000000.tar.gz', path, role: 'image' }],
          manifestPath: join(work, 'no-manifest'),
        },
        silentLog,
      );
      ours.push(Number(process.hrtime.bigint() - start) / 1e9);
      await s3.send(new DeleteObjectCommand({ Bucket: 'bench', Key: `${label}/images/acme_bench_bookworm_bench_20260101.000000.tar.gz` }));
    }
    const mib = SIZE / 2 ** 20;
    const best = (xs: number[]) => Math.min(...xs);
    return [
      ratioRow('upload 1 GiB to S3 (publish store vs rclone)', mib / best(ours), mib / best(theirs), 'MiB/s',
        `baseline: rclone copyto (defaults) to the same Ceph RGW; ours includes read-back verification and the index update; best of ${ROUNDS}; target >= 1.0`),
    ];
  } finally {
    s3.destroy();
    await rgw.stop();
    await rm(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  benchUpload().then((rows) => process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`));
}
