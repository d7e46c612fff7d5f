import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { BuiltImage } from '../../lib/core/image';
import { listObjects } from '../../lib/storage/s3/s3-objects';
import { PublishRig, startPublishers, startPublishRig } from '../support/publisher-pool';
import { describeWith } from '../support/prereq';
import { RgwServer, rgwPrerequisites } from '../support/rgw';
import { indexedNames, problemsWithIndex, readIndex } from '../support/s3-inspect';
import { syntheticImage } from '../support/synthetic-image';

const PUBLISHERS = 32;
const REPETITIONS = 10;
const KILLS = 20;

function timestampFor(n: number): string {
  const s = String(n).padStart(6, '0');
  return `20260201.${s}`;
}

describeWith('publishers racing and dying (Ceph RGW on loopback)', rgwPrerequisites, () => {
  let rig: PublishRig;
  let rgw: RgwServer;
  let s3: S3Client;
  let work: string;
  let worker: { file: string; dir: string };
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    rig = await startPublishRig('tailor-s3-race-');
    ({ rgw, s3, work, worker, env } = rig);
  }, 90000);

  afterAll(() => rig?.stop(), 30000);

  async function race(bucket: string, repetitions: number, labelPrefix: string): Promise<void> {
    const { workers, kill } = await startPublishers(PUBLISHERS, worker.file, env);
    try {
      for (let round = 0; round < repetitions; round += 1) {
        const label = `${labelPrefix}${round}`;
        const images = await Promise.all(
          workers.map((_, i) =>
            syntheticImage({ dir: join(work, label), name: `app${i}`, distribution: i % 2 ? 'jammy' : 'bookworm', releaseLabel: label, timestamp: timestampFor(i), size: 1024 + i * 97 }),
          ),
        );
        const replies = await Promise.all(workers.map((w, i) => w.publish(bucket, images[i])));
        expect(replies.filter((r) => !r.ok)).toEqual([]);
        const index = await readIndex(s3, bucket, label);
        // Every entry, every time.
        expect(indexedNames(index)).toEqual(images.map((i) => i.imageName).sort());
        expect(await problemsWithIndex(s3, bucket, label, index!)).toEqual([]);
      }
    } finally {
      kill();
    }
  }

  test(`${PUBLISHERS} publisher processes into one release, ${REPETITIONS} times: every entry in the index every time`, async () => {
    await rgw.createBucket('race-plain');
    await race('race-plain', REPETITIONS, 'race');
  }, 240000);

  test(`without working conditional writes (RGW, versioned bucket) ${PUBLISHERS} publishers still converge, 3 times`, async () => {
    // Ceph RGW ignores If-None-Match and refuses every If-Match on versioned buckets: the
    // writers fall back to unconditional writes and the read-back loop must still keep
    // every entry.
    await rgw.createBucket('race-versioned', { versioning: true });
    await race('race-versioned', 3, 'vrace');
  }, 240000);

  test(`a publisher killed with SIGKILL at random points, ${KILLS} times: the index never names a missing or partial object and the next publish succeeds`, async () => {
    const bucket = 'kill-release';
    const label = 'kill';
    await rgw.createBucket(bucket);
    const phases = ['PHASE start', 'PHASE s3: upload', 'PHASE s3: verified', 'PHASE s3: wrote', 'PHASE s3: entry written', 'PHASE s3: index write round', 'PHASE s3: index written'];
    const completed: string[] = [];
    const hitPhases = new Set<string>();
    let serial = 0;

    const runPublisher = async (image: BuiltImage, killAt?: { phase: string; delayMs: number }) => {
      const imageFile = join(work, `${image.imageName}.json`);
      await writeFile(imageFile, JSON.stringify(image));
      return new Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string; killedAfter?: string }>((resolve) => {
        const child = spawn(process.execPath, [worker.file, bucket, imageFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        let killedAfter: string | undefined;
        const onData = (chunk: Buffer) => {
          output += chunk;
          if (killAt && !killedAfter && output.includes(killAt.phase)) {
            killedAfter = killAt.phase;
            setTimeout(() => child.kill('SIGKILL'), killAt.delayMs);
          }
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', (c) => (output += c));
        child.on('close', (code, signal) => resolve({ code, signal, output, killedAfter }));
      });
    };

    for (let trial = 0; trial < KILLS; trial += 1) {
      serial += 1;
      // Multipart-sized images (3 parts of 16 MiB) so a kill can land mid-upload.
      const victim = await syntheticImage({ dir: work, name: `victim${trial}`, distribution: 'bookworm', releaseLabel: label, timestamp: timestampFor(serial), size: (trial % 2 ? 40 : 2) * 1024 * 1024 });
      const phase = phases[trial % phases.length];
      const run = await runPublisher(victim, { phase, delayMs: Math.floor(Math.random() * 40) });
      if (run.signal === 'SIGKILL') hitPhases.add(phase);
      else {
        expect(run.code).toBe(0);
        completed.push(victim.imageName);
      }

      // Whatever state the kill left: every indexed entry is whole.
      const after = await readIndex(s3, bucket, label);
      if (after) expect(await problemsWithIndex(s3, bucket, label, after)).toEqual([]);
      for (const name of completed) expect(indexedNames(after)).toContain(name);

      // The next publisher needs no repair, and merges any whole image the victim left.
      serial += 1;
      const next = await syntheticImage({ dir: work, name: `next${trial}`, distribution: 'jammy', releaseLabel: label, timestamp: timestampFor(serial), size: 3000 });
      const ok = await runPublisher(next);
      expect({ code: ok.code, output: ok.code === 0 ? '' : ok.output }).toEqual({ code: 0, output: '' });
      completed.push(next.imageName);
      const index = await readIndex(s3, bucket, label);
      expect(await problemsWithIndex(s3, bucket, label, index!)).toEqual([]);
      for (const name of completed) expect(indexedNames(index)).toContain(name);
      const entryObjects = (await listObjects(s3, bucket, `${label}/images/entries/`)).map((o) => o.key.replace(/^.*\//, '').replace(/\.json$/, '')).sort();
      expect(indexedNames(index)).toEqual(entryObjects);
    }
    // The kills did land in the middle of things, not only before or after.
    expect(hitPhases.size).toBeGreaterThanOrEqual(4);
  }, 300000);
});
