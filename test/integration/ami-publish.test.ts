import { createHash } from 'node:crypto';
import { mkdtemp, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLog } from '../../lib/core/log';
import { publishAmi } from '../../lib/storage/ec2/ami-publish';
import { removeAmi } from '../../lib/storage/ec2/ami-remove';
import { sweepImages, sweepSnapshots } from '../../lib/storage/ec2/ami-sweep';
import { AMI_MARKER_TAG, AMI_RELEASE_TAG, AMI_SHA256_TAG, AMI_STATE_TAG, AMI_TIMESTAMP_TAG } from '../../lib/storage/ec2/ami-tags';
import { createAmiClients } from '../../lib/storage/ec2/ec2-clients';
import { EbsEc2Standin } from '../support/ebs-ec2-standin';
import { describeWith, tool } from '../support/prereq';
import { syntheticAmiImage } from '../support/synthetic-image';

/** Sets these variables until the returned function puts the old values back. */
function withEnv(vars: Record<string, string>): () => void {
  const old = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  return () => {
    for (const [k, v] of Object.entries(old)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

const quick = { retryDelayMs: 5, pollMs: 5, attempts: 4 };

describeWith('AMI publish through the EBS direct and EC2 APIs (stand-in)', [tool('xz', 'xz-utils')], () => {
  const standin = new EbsEc2Standin();
  let work: string;
  let restore: () => void;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'tailor-ami-'));
    await standin.start();
    restore = withEnv(standin.env('eu-west-1'));
  });

  afterAll(async () => {
    restore?.();
    await standin.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('uploads only the non-zero blocks, checked one by one and in aggregate, and registers the image as EC2 boots it', async () => {
    const { image, disk } = await syntheticAmiImage({ dir: work, name: 'fleet', distribution: 'bookworm', releaseLabel: 'hotdog', timestamp: '20261201.100000', layout: '1001100000011', tail: 12345 });
    const reported: [string, number, number | undefined][] = [];
    const log = { ...silentLog, progress: (what: string, done: number, total?: number) => reported.push([what, done, total]) };
    const published = await publishAmi(image, { ...quick, concurrency: 3 }, log);
    published.release();
    // Byte progress of the snapshot: the raw disk's bytes read, of its size, up to the whole.
    const snapshotProgress = reported.filter(([what]) => what.startsWith('snapshot '));
    expect(snapshotProgress.length).toBe(14);
    expect(snapshotProgress.every(([, , total]) => total === disk.size)).toBe(true);
    expect(snapshotProgress.at(-1)![1]).toBe(disk.size);
    const { record, upload } = published;
    expect(record.region).toBe('eu-west-1');
    expect(upload).toMatchObject({ rawSize: disk.size, rawSha256: disk.sha256, blocks: 14, sentBlocks: disk.dataBlocks.length, zeroBlocks: 14 - disk.dataBlocks.length });

    const reassembled = standin.reassemble(record.snapshot, disk.size);
    expect(createHash('sha256').update(reassembled).digest('hex')).toBe(disk.sha256);
    const sent = standin.operations('PutSnapshotBlock').map((c) => Number(c.params.BlockIndex)).sort((a, b) => a - b);
    expect(sent).toEqual(disk.dataBlocks);
    expect(standin.operations('StartSnapshot')[0].params.VolumeSize).toBe('1');
    expect(standin.operations('CompleteSnapshot')[0].params).toMatchObject({ ChangedBlocksCount: String(disk.dataBlocks.length), ChecksumAlgorithm: 'SHA256', ChecksumAggregationMethod: 'LINEAR' });

    const registered = standin.images.get(record.images['eu-west-1'])!;
    expect(registered.params).toMatchObject({
      Name: image.imageName, Architecture: 'x86_64', BootMode: 'uefi', EnaSupport: 'true', SriovNetSupport: 'simple', ImdsSupport: 'v2.0',
      VirtualizationType: 'hvm', RootDeviceName: '/dev/xvda', 'BlockDeviceMapping.1.DeviceName': '/dev/xvda', 'BlockDeviceMapping.1.Ebs.SnapshotId': record.snapshot,
    });
    expect(Object.fromEntries(registered.tags)).toMatchObject({
      [AMI_MARKER_TAG]: image.imageName, [AMI_RELEASE_TAG]: 'hotdog', [AMI_TIMESTAMP_TAG]: '20261201.100000', [AMI_SHA256_TAG]: image.artifacts[0].sha256,
    });
    const snapshot = standin.snapshots.get(record.snapshot)!;
    expect(snapshot.tags.get(AMI_STATE_TAG)).toBe('registered');
    expect(snapshot.tags.get(AMI_SHA256_TAG)).toBe(image.artifacts[0].sha256);
  });

  test('an arm64 image (its name field fleet-arm64) is registered with Architecture arm64, as Graviton machines boot it', async () => {
    const { image } = await syntheticAmiImage({ dir: work, name: 'fleet-arm64', distribution: 'bookworm', releaseLabel: 'hotdog', timestamp: '20261201.103000', layout: '0110' });
    const { record, release } = await publishAmi({ ...image, architecture: 'arm64' }, quick, silentLog);
    release();
    expect(standin.images.get(record.images['eu-west-1'])!.params).toMatchObject({ Name: image.imageName, Architecture: 'arm64', BootMode: 'uefi' });
  });

  test('a block refused once is sent again and the upload completes', async () => {
    const { image, disk } = await syntheticAmiImage({ dir: work, name: 'retry', distribution: 'bookworm', releaseLabel: 'hotdog', timestamp: '20261201.110000', layout: '0110' });
    standin.rejectBlockOnce(2);
    const before = standin.operations('PutSnapshotBlock').length;
    const { record, release } = await publishAmi(image, quick, silentLog);
    release();
    expect(standin.rejected.map((r) => r.index)).toEqual([2]);
    const puts = standin.operations('PutSnapshotBlock').slice(before).map((c) => Number(c.params.BlockIndex)).sort();
    expect(puts).toEqual([1, 2, 2]);
    expect(createHash('sha256').update(standin.reassemble(record.snapshot, disk.size)).digest('hex')).toBe(disk.sha256);
  });

  test('an upload cut off mid-way registers nothing; the next publish deletes its snapshot and succeeds', async () => {
    const { image } = await syntheticAmiImage({ dir: work, name: 'cutoff', distribution: 'bookworm', releaseLabel: 'cut', timestamp: '20261201.120000', layout: '1111111111' });
    standin.dieAfterBlocks(3);
    await expect(publishAmi(image, { ...quick, concurrency: 1, attempts: 2 }, silentLog)).rejects.toThrow();
    standin.revive();
    const left = [...standin.snapshots.values()].filter((s) => s.tags.get(AMI_RELEASE_TAG) === 'cut');
    expect(left.map((s) => [s.state, s.tags.get(AMI_STATE_TAG)])).toEqual([['pending', 'uploading']]);
    expect(standin.liveImages().filter((i) => i.tags.get(AMI_RELEASE_TAG) === 'cut')).toEqual([]);

    const { image: next } = await syntheticAmiImage({ dir: work, name: 'cutoff', distribution: 'bookworm', releaseLabel: 'cut', timestamp: '20261201.120100', layout: '1' });
    const { record, release } = await publishAmi(next, quick, silentLog);
    release();
    expect(standin.snapshots.has(left[0].id)).toBe(false);
    expect([...standin.snapshots.values()].filter((s) => s.tags.get(AMI_RELEASE_TAG) === 'cut').map((s) => s.id)).toEqual([record.snapshot]);
  });

  test('a damaged .raw.xz fails the publish in one line and its snapshot is deleted', async () => {
    const { image } = await syntheticAmiImage({ dir: work, name: 'damaged', distribution: 'bookworm', releaseLabel: 'damaged', timestamp: '20261201.125000', layout: '1111' });
    await truncate(image.artifacts[0].path, Math.floor(image.artifacts[0].size / 2));
    await expect(publishAmi(image, quick, silentLog)).rejects.toThrow(/xz/);
    expect([...standin.snapshots.values()].filter((s) => s.tags.get(AMI_RELEASE_TAG) === 'damaged')).toEqual([]);
    expect(standin.liveImages().filter((i) => i.tags.get(AMI_RELEASE_TAG) === 'damaged')).toEqual([]);
  });

  test('a retried job whose killed run registered the image replaces that image', async () => {
    const spec = { dir: work, name: 'retried', distribution: 'bookworm', releaseLabel: 'retried', timestamp: '20261201.126000', layout: '11' };
    const { image } = await syntheticAmiImage(spec);
    const first = await publishAmi(image, quick, silentLog);
    first.release(); // as if its process died before the index named it
    const second = await publishAmi(image, quick, silentLog);
    second.release();
    expect(standin.images.get(first.record.images['eu-west-1'])!.deregistered).toBe(true);
    expect(standin.snapshots.has(first.record.snapshot)).toBe(false);
    expect(standin.liveImages().filter((i) => i.name === image.imageName).map((i) => i.id)).toEqual([second.record.images['eu-west-1']]);
  });

  test('copies to more regions and shares with accounts; removeAmi deregisters and deletes everywhere', async () => {
    const { image } = await syntheticAmiImage({ dir: work, name: 'shared', distribution: 'bookworm', releaseLabel: 'hotdog', timestamp: '20261201.130000', layout: '101' });
    const { record, release } = await publishAmi(image, { ...quick, copyToRegions: ['us-west-2', 'eu-west-1'], shareWithAccounts: ['444455556666'] }, silentLog);
    release();
    expect(Object.keys(record.images).sort()).toEqual(['eu-west-1', 'us-west-2']);
    const copy = standin.images.get(record.images['us-west-2'])!;
    expect(copy.region).toBe('us-west-2');
    expect(copy.tags.get(AMI_MARKER_TAG)).toBe(image.imageName);
    for (const region of ['eu-west-1', 'us-west-2']) {
      const img = standin.images.get(record.images[region])!;
      expect([...img.launchPermissions]).toEqual(['444455556666']);
      expect([...standin.snapshots.get(img.snapshotId)!.sharedWith]).toEqual(['444455556666']);
    }
    const copySnapshot = copy.snapshotId;
    const clients = createAmiClients();
    try {
      await removeAmi(record, (region) => clients.ec2(region));
    } finally {
      clients.destroy();
    }
    expect(standin.images.get(record.images['eu-west-1'])!.deregistered).toBe(true);
    expect(copy.deregistered).toBe(true);
    expect(standin.snapshots.has(record.snapshot)).toBe(false);
    expect(standin.snapshots.has(copySnapshot)).toBe(false);
  });

  test('sweeps: a completed but unregistered snapshot goes; an image no index knows is deregistered, a known one stays', async () => {
    const { image } = await syntheticAmiImage({ dir: work, name: 'orphan', distribution: 'bookworm', releaseLabel: 'sweep', timestamp: '20261201.140000', layout: '1' });
    const kept = await publishAmi(image, quick, silentLog);
    kept.release();
    const { image: other } = await syntheticAmiImage({ dir: work, name: 'orphan', distribution: 'bookworm', releaseLabel: 'sweep', timestamp: '20261201.140100', layout: '1' });
    const dropped = await publishAmi(other, quick, silentLog);
    dropped.release();
    // A snapshot whose publisher died after CompleteSnapshot: completed, still `uploading`.
    const orphan = standin.snapshots.get(kept.record.snapshot)!;
    standin.snapshots.set('snap-orphan', { ...orphan, id: 'snap-orphan', tags: new Map([...orphan.tags, [AMI_STATE_TAG, 'uploading']]), pendingDescribes: 0 });
    const clients = createAmiClients();
    try {
      const ec2 = clients.ec2();
      expect(await sweepSnapshots({ ec2, releaseLabel: 'sweep', log: silentLog })).toEqual(['snap-orphan']);
      const removed = await sweepImages({ ec2, releaseLabel: 'sweep', log: silentLog, known: async (name) => name === image.imageName });
      expect(removed).toEqual([dropped.record.images['eu-west-1']]);
    } finally {
      clients.destroy();
    }
    expect(standin.images.get(kept.record.images['eu-west-1'])!.deregistered).toBe(false);
    expect(standin.snapshots.has(dropped.record.snapshot)).toBe(false);
  });
});
