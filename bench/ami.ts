import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomFillSync } from 'node:crypto';
import { EBSClient } from '@aws-sdk/client-ebs';
import { silentLog } from '../lib/core/log';
import { uploadSnapshot } from '../lib/storage/ec2/snapshot-upload';
import { EbsEc2Standin } from '../test/support/ebs-ec2-standin';
import { BenchRow } from './types';
import { ratioRow } from './util';

const BLOCK = 512 * 1024;
const BLOCKS = Number(process.env.BENCH_AMI_BLOCKS ?? 512); // 256 MiB
const ROUNDS = 2;

/** A disk like a fresh image: every third block of the first 60% holds data (half random, half text), the rest is zeros. */
async function writeDisk(path: string): Promise<number> {
  const out = createWriteStream(path);
  const zero = Buffer.alloc(BLOCK);
  const text = Buffer.alloc(BLOCK, 'Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n');
  let data = 0;
  for (let i = 0; i < BLOCKS; i += 1) {
    let block = zero;
    if (i < BLOCKS * 0.6 && i % 3 !== 2) {
      block = Buffer.from(text);
      randomFillSync(block, 0, BLOCK / 2);
      data += 1;
    }
    if (!out.write(block)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  return data;
}

function timed(command: string, args: string[]): Promise<number> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Number(process.hrtime.bigint() - started) / 1e9) : reject(new Error(`${command} exited ${code}`))));
  });
}

/**
 * The AMI snapshot upload (lib/storage/ec2/snapshot-upload.ts: xz -dc, 512 KiB blocks,
 * SHA256 each, zero blocks skipped, 16 puts in flight) of a 256 MiB .raw.xz to the
 * EBS stand-in on loopback (in this process: it hashes every block too), against its
 * floor, reading the raw disk: `xz -dc` of the same file to /dev/null. Best of two each.
 * And the share of blocks skipped as zero, against the share of zero blocks on the disk.
 */
export async function benchAmi(): Promise<BenchRow[]> {
  const work = await mkdtemp(join(tmpdir(), 'bench-ami-'));
  const standin = new EbsEc2Standin();
  await standin.start();
  const ebs = new EBSClient({ endpoint: standin.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench' } });
  try {
    const raw = join(work, 'disk.raw');
    const dataBlocks = await writeDisk(raw);
    await timed('xz', ['-0', '-T2', '-f', raw]);
    const xz = `${raw}.xz`;
    let floor = Infinity;
    let ours = Infinity;
    let skipped = 0;
    for (let round = 0; round < ROUNDS; round += 1) {
      floor = Math.min(floor, await timed('sh', ['-c', `xz -dc "${xz}" > /dev/null`]));
      const started = process.hrtime.bigint();
      const result = await uploadSnapshot({ ebs, path: xz, tags: [{ Key: 'tailor-image:ami', Value: 'bench' }], description: 'bench', log: silentLog });
      ours = Math.min(ours, Number(process.hrtime.bigint() - started) / 1e9);
      skipped = result.zeroBlocks / result.blocks;
      standin.snapshots.clear();
    }
    const mib = (BLOCKS * BLOCK) / 2 ** 20;
    return [
      ratioRow(`ami snapshot upload (${mib} MiB disk, EBS stand-in)`, ours, floor, 's', 'floor: xz -dc of the same .raw.xz to /dev/null'),
      ratioRow('ami blocks skipped as zero', skipped * 100, ((BLOCKS - dataBlocks) / BLOCKS) * 100, '%', 'baseline: the share of zero blocks on the disk; target 1.0'),
    ];
  } finally {
    ebs.destroy();
    await standin.stop();
    await rm(work, { recursive: true, force: true });
  }
}
