import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLog } from '../../lib/core/log';
import { listEntries } from '../../lib/storage/indexes/tailor-index';
import { AMI_RELEASE_TAG, AMI_STATE_TAG } from '../../lib/storage/ec2/ami-tags';
import { cleanupS3 } from '../../lib/storage/s3/s3-cleanup';
import { S3ImageStore } from '../../lib/storage/s3/s3-store';
import { bundlePublishWorker } from '../support/bundle-worker';
import { EbsEc2Standin } from '../support/ebs-ec2-standin';
import { daysAgo } from '../support/outcomes';
import { describeWith, tool } from '../support/prereq';
import { rgwPrerequisites, useRgw } from '../support/rgw';
import { indexedNames, objectBytes, readIndex } from '../support/s3-inspect';
import { plannedOf, syntheticAmiImage } from '../support/synthetic-image';

const BUCKET = 'ami-publish';
const quick = { retryDelayMs: 5, pollMs: 5, attempts: 3 };

describeWith('AMI publish and cleanup with S3 (Ceph RGW on loopback) and the EBS/EC2 stand-in', [...rgwPrerequisites, tool('xz', 'xz-utils')], () => {
  const rgw = useRgw([BUCKET]);
  const standin = new EbsEc2Standin();
  let work: string;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'tailor-ami-s3-'));
    await standin.start();
    for (const [k, v] of Object.entries(standin.env('us-east-1'))) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
  });

  afterAll(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await standin.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const store = (planned: Parameters<typeof plannedOf>[0][] = []) =>
    new S3ImageStore({ bucket: BUCKET, client: rgw.s3, images: planned.map(plannedOf), ami: { ...quick, copyToRegions: ['eu-central-1'] } });

  test('--publish: the .raw.xz goes to S3 and the AMI is registered; the entry records it under the ami key', async () => {
    const { image, disk } = await syntheticAmiImage({ dir: work, name: 'fleet', distribution: 'bookworm', releaseLabel: 'hotdog', timestamp: '20261201.100000', layout: '10010001', tail: 4096 });
    const s = store([image]);
    await s.verify();
    await s.put(image, silentLog);
    const bytes = await objectBytes(rgw.s3, BUCKET, `hotdog/images/${image.artifacts[0].fileName}`);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(image.artifacts[0].sha256);
    const index = await readIndex(rgw.s3, BUCKET, 'hotdog');
    const entry = index!['20261201.100000'].ami.fleet.bookworm;
    expect(entry).toMatchObject({ file: image.imageName, build_type: 'ami', artifact: `${image.imageName}.raw.xz` });
    expect(Object.keys(entry.ami!.images).sort()).toEqual(['eu-central-1', 'us-east-1']);
    expect(entry.ami!.region).toBe('us-east-1');
    expect(createHash('sha256').update(standin.reassemble(entry.ami!.snapshot, disk.size)).digest('hex')).toBe(disk.sha256);
    expect(standin.images.get(entry.ami!.images['us-east-1'])!.params.ImdsSupport).toBe('v2.0');
  });

  test('a publisher killed mid-upload leaves no image and no entry; the next publish deletes its snapshot and succeeds', async () => {
    const { image } = await syntheticAmiImage({ dir: work, name: 'killed', distribution: 'bookworm', releaseLabel: 'kill', timestamp: '20261201.110000', layout: '1'.repeat(24) });
    const worker = await bundlePublishWorker();
    try {
      const imageFile = join(work, 'killed.json');
      await writeFile(imageFile, JSON.stringify(image));
      standin.blockDelayMs = 300;
      const before = standin.storedBlocks;
      const child = spawn(process.execPath, [worker.file, BUCKET, imageFile], { env: { ...process.env, ...standin.env('us-east-1'), ...rgw.server.env, NODE_NO_WARNINGS: '1' }, stdio: 'ignore' });
      const exited = new Promise((resolve) => child.on('exit', resolve));
      for (let i = 0; i < 600 && standin.storedBlocks < before + 4; i += 1) await new Promise((r) => setTimeout(r, 25));
      child.kill('SIGKILL');
      await exited;
      standin.blockDelayMs = 0;
      expect(standin.storedBlocks).toBeGreaterThanOrEqual(before + 4);
      const left = [...standin.snapshots.values()].filter((s) => s.tags.get(AMI_RELEASE_TAG) === 'kill');
      expect(left.map((s) => [s.state, s.tags.get(AMI_STATE_TAG)])).toEqual([['pending', 'uploading']]);
      expect(standin.liveImages().filter((i) => i.tags.get(AMI_RELEASE_TAG) === 'kill')).toEqual([]);
      expect(indexedNames(await readIndex(rgw.s3, BUCKET, 'kill'))).toEqual([]);

      const { image: next } = await syntheticAmiImage({ dir: work, name: 'killed', distribution: 'bookworm', releaseLabel: 'kill', timestamp: '20261201.110100', layout: '01' });
      await store([next]).put(next, silentLog);
      expect(standin.snapshots.has(left[0].id)).toBe(false);
      expect(indexedNames(await readIndex(rgw.s3, BUCKET, 'kill'))).toEqual([next.imageName]);
      expect(standin.liveImages().filter((i) => i.tags.get(AMI_RELEASE_TAG) === 'kill').map((i) => i.name)).toEqual([next.imageName, next.imageName]);
    } finally {
      await rm(worker.dir, { recursive: true, force: true });
    }
  }, 60000);

  test('cleanup deregisters the AMIs past the policy in every region and deletes their snapshots; kept ones stay', async () => {
    const images = [];
    for (const days of [1, 10, 20]) {
      const { image } = await syntheticAmiImage({ dir: work, name: 'old', distribution: 'bookworm', releaseLabel: 'retain', timestamp: daysAgo(days), layout: '1' });
      await store([image]).put(image, silentLog);
      images.push(image);
    }
    const entries = listEntries((await readIndex(rgw.s3, BUCKET, 'retain'))!);
    const records = new Map(entries.map(({ entry }) => [entry.file, entry.ami!]));
    const report = await cleanupS3({ client: rgw.s3, bucket: BUCKET, releaseLabel: 'retain', organization: 'acme', policy: { numToKeep: 1, now: new Date() }, dryRun: false, log: silentLog });
    expect(report.removed.map((r) => r.imageName).sort()).toEqual([images[1].imageName, images[2].imageName].sort());
    expect(report.removed.every((r) => (r.amis ?? []).length === 3)).toBe(true);
    for (const image of images) {
      const record = records.get(image.imageName)!;
      const kept = image === images[0];
      for (const id of Object.values(record.images)) expect(standin.images.get(id)!.deregistered).toBe(!kept);
      expect(standin.snapshots.has(record.snapshot)).toBe(kept);
      const copySnapshot = standin.images.get(record.images['eu-central-1'])!.snapshotId;
      expect(standin.snapshots.has(copySnapshot)).toBe(kept);
    }
    expect(indexedNames(await readIndex(rgw.s3, BUCKET, 'retain'))).toEqual([images[0].imageName]);
  });
});
