import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { BuildError, UsageError } from '../../lib/core/errors';
import { BuiltImage } from '../../lib/core/image';
import { silentLog } from '../../lib/core/log';
import { entryFor } from '../../lib/storage/indexes/tailor-index';
import { cleanupS3 } from '../../lib/storage/s3/s3-cleanup';
import { putEntryObject, S3IndexWriter } from '../../lib/storage/s3/s3-index';
import { listObjects } from '../../lib/storage/s3/s3-objects';
import { S3ImageStore } from '../../lib/storage/s3/s3-store';
import { delayIndexWrites, INDEX_DELAY_ENV } from '../support/index-write-delay';
import { PublishRig, startPublishers, startPublishRig } from '../support/publisher-pool';
import { describeWith } from '../support/prereq';
import { RgwServer, rgwPrerequisites } from '../support/rgw';
import { indexedNames, problemsWithIndex, readIndex } from '../support/s3-inspect';
import { collectingLog, daysAgo, failure } from '../support/outcomes';
import { plannedOf, syntheticImage } from '../support/synthetic-image';

const T = '20260301.101500';

describeWith('the S3 index: slot collisions, stale writers, broken neighbours (Ceph RGW on loopback)', rgwPrerequisites, () => {
  let rig: PublishRig;
  let rgw: RgwServer;
  let s3: S3Client;
  let work: string;
  let worker: { file: string; dir: string };
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    rig = await startPublishRig('tailor-s3-safety-');
    ({ rgw, s3, work, worker, env } = rig);
  }, 90000);

  afterAll(() => rig?.stop(), 30000);

  const image = (spec: { organization?: string; name?: string; label?: string; timestamp?: string; dir: string }) =>
    syntheticImage({ dir: join(work, spec.dir), organization: spec.organization, name: spec.name ?? 'webapp', distribution: 'bookworm', releaseLabel: spec.label ?? 'hotdog', timestamp: spec.timestamp ?? T, size: 2500 });
  const keysOf = async (bucket: string, prefix: string) => (await listObjects(s3, bucket, prefix)).map((o) => o.key).sort();

  describe('two images of one slot (same label, name, distribution and timestamp; other organizations)', () => {
    test('a taken slot is refused at verify with one line; a publish that loses it later is withdrawn; the others settle at once', async () => {
      const bucket = 'slots';
      await rgw.createBucket(bucket);
      const first = await image({ organization: 'acme', dir: 'slot-a' });
      await new S3ImageStore({ bucket, client: s3 }).put(first, silentLog);

      const second = await image({ organization: 'other', dir: 'slot-b' });
      const refused = await failure(new S3ImageStore({ bucket, client: s3, images: [plannedOf(second)] }).verify());
      expect(refused).toBeInstanceOf(UsageError);
      expect(refused.message).toBe(
        `s3://slots/hotdog/images/index already holds ${first.imageName} where ${second.imageName} goes (${T} raw/webapp/bookworm); pick another --timestamp`,
      );
      const again = await failure(new S3ImageStore({ bucket, client: s3, images: [plannedOf(first)] }).verify());
      expect(again.message).toBe(`s3://slots/hotdog/images/index already names ${first.imageName} (pick another --timestamp)`);

      // Past verify (it raced): the publish fails with one line and takes itself back.
      const lost = await failure(new S3ImageStore({ bucket, client: s3 }).put(second, silentLog));
      expect(lost).toBeInstanceOf(BuildError);
      expect(lost.message).toMatch(new RegExp(`already holds ${first.imageName} where ${second.imageName} goes .*\\(${second.imageName} was not published: its objects are removed\\)$`));
      expect(lost.message).not.toContain('\n');
      expect(indexedNames(await readIndex(s3, bucket, 'hotdog'))).toEqual([first.imageName]);
      expect(await keysOf(bucket, `hotdog/images/${second.imageName}`)).toEqual([]);
      expect(await keysOf(bucket, `hotdog/images/entries/${second.imageName}`)).toEqual([]);
      expect(await keysOf(bucket, 'hotdog/images/removed/')).toEqual([`hotdog/images/removed/${second.imageName}.json`]);
      const withdrawn = await failure(new S3ImageStore({ bucket, client: s3, images: [plannedOf(second)] }).verify());
      expect(withdrawn).toBeInstanceOf(UsageError);

      // Whatever the entry objects hold: a third organization's entry object for the same
      // slot (its publisher never got to its index update) is never merged over the first.
      const third = await image({ organization: 'third', dir: 'slot-c' });
      await putEntryObject({ client: s3, bucket, releaseLabel: 'hotdog', log: silentLog }, entryFor(third));
      const settled = await new S3IndexWriter({ client: s3, bucket, releaseLabel: 'hotdog', log: silentLog }).update((index) => index);
      expect({ rounds: settled.rounds, writes: settled.writes }).toEqual({ rounds: 1, writes: 0 });
      // An unrelated publish settles (before: "did not settle after 60 rounds").
      const unrelated = await image({ organization: 'acme', name: 'robot', dir: 'slot-d' });
      await new S3ImageStore({ bucket, client: s3, maxIndexRounds: 5 }).put(unrelated, silentLog);
      const index = await readIndex(s3, bucket, 'hotdog');
      expect(indexedNames(index)).toEqual([first.imageName, unrelated.imageName].sort());
      expect(await problemsWithIndex(s3, bucket, 'hotdog', index!)).toEqual([]);
    }, 60000);

    test('entry objects competing for a free slot: the oldest goes in, and no later writer flips it', async () => {
      const bucket = 'slots-free';
      await rgw.createBucket(bucket);
      const options = { client: s3, bucket, releaseLabel: 'hotdog', log: silentLog };
      const older = await image({ organization: 'zeta', dir: 'free-a' });
      const newer = await image({ organization: 'alpha', dir: 'free-b' });
      await putEntryObject(options, entryFor(older));
      await new Promise((resolve) => setTimeout(resolve, 1100));
      await putEntryObject(options, entryFor(newer));
      for (let writer = 0; writer < 6; writer += 1) {
        const result = await new S3IndexWriter(options).update((index) => index);
        expect(result.rounds).toBeLessThanOrEqual(2);
        expect(result.writes).toBe(writer === 0 ? 1 : 0);
        expect(indexedNames(result.index)).toEqual([older.imageName]);
      }
    }, 30000);

    for (const versioned of [false, true]) {
      test(`8 pairs of publishers on a slow link racing for 8 slots, 5 times${versioned ? ', without working conditional writes (versioned bucket)' : ''}: one of each pair is published, the other is withdrawn with one line`, async () => {
        const bucket = versioned ? 'slot-race-versioned' : 'slot-race';
        await rgw.createBucket(bucket, { versioning: versioned });
        // Index writes land up to 150 ms after their read: where they are unconditional,
        // writers drop each other's entries all the time, and the merge must still never
        // let the loser of a slot in.
        const { workers, kill } = await startPublishers(16, worker.file, { ...env, [INDEX_DELAY_ENV]: '150' });
        try {
          for (let round = 0; round < 5; round += 1) {
            const label = `pairs${round}`;
            const images: BuiltImage[] = await Promise.all(
              workers.map((_, i) => image({ organization: i % 2 ? 'acme' : 'other', name: `app${i >> 1}`, label, dir: `${bucket}-${round}-${i}` })),
            );
            const replies = await Promise.all(workers.map((w, i) => w.publish(bucket, images[i])));
            const index = await readIndex(s3, bucket, label);
            for (let pair = 0; pair < 8; pair += 1) {
              const [a, b] = [replies[2 * pair], replies[2 * pair + 1]];
              expect([a.ok, b.ok].filter(Boolean)).toHaveLength(1);
              const loser = a.ok ? b : a;
              const winner = a.ok ? images[2 * pair] : images[2 * pair + 1];
              expect(loser.error).toMatch(new RegExp(`already holds ${winner.imageName} where ${loser.imageName} goes`));
              expect(loser.error).not.toContain('\n');
              expect(index![T].raw[`app${pair}`].bookworm.file).toBe(winner.imageName);
              expect(await keysOf(bucket, `${label}/images/${loser.imageName}`)).toEqual([]);
            }
            expect(indexedNames(index)).toHaveLength(8);
            expect(await problemsWithIndex(s3, bucket, label, index!)).toEqual([]);
          }
        } finally {
          kill();
        }
      }, 180000);
    }
  });

  describe('cleanups and stale writers, without working conditional writes (versioned bucket)', () => {
    // A versioned RGW bucket ignores If-None-Match and refuses every If-Match: every index
    // writer falls back to unconditional writes, so a publisher that read the index before a
    // cleanup writes it back afterwards. The tombstones must take such entries out again.
    const cleanup = (bucket: string, label: string) =>
      cleanupS3({ client: s3, bucket, releaseLabel: label, organization: 'acme', policy: { daysToKeep: 30, now: new Date() }, dryRun: false, log: silentLog });

    test('a publisher whose index write was read before a cleanup does not bring the removed image back', async () => {
      const bucket = 'stale-one';
      const label = 'stale';
      await rgw.createBucket(bucket, { versioning: true });
      const old = await image({ label, timestamp: daysAgo(40), dir: 'stale-one-old' });
      await new S3ImageStore({ bucket, client: s3 }).put(old, silentLog);

      // This publisher's first index write is held until the cleanup is over: it read the
      // index (naming the old image) before the cleanup, and writes after it.
      let open: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (open = resolve));
      let held = false;
      let reachedWrite: () => void = () => undefined;
      const atWrite = new Promise<void>((resolve) => (reachedWrite = resolve));
      const slow = delayIndexWrites(rgw.client(), async () => {
        if (held) return;
        held = true;
        reachedWrite();
        await gate;
      });
      try {
        // The publisher's store has learnt that this server takes no conditions (its first
        // publish found out), as a CodeBuild job publishing several images has.
        const publisher = new S3ImageStore({ bucket, client: slow });
        held = true;
        const earlier = await image({ name: 'earlier', label, timestamp: daysAgo(1), dir: 'stale-one-earlier' });
        await publisher.put(earlier, silentLog);
        held = false;
        const fresh = await image({ name: 'fresh', label, timestamp: daysAgo(0), dir: 'stale-one-new' });
        const publishing = publisher.put(fresh, silentLog);
        await atWrite;
        const report = await cleanup(bucket, label);
        expect(report.removed.map((r) => r.imageName)).toEqual([old.imageName]);
        open();
        await publishing;
        const index = await readIndex(s3, bucket, label);
        expect(indexedNames(index)).toEqual([earlier.imageName, fresh.imageName].sort());
        expect(await problemsWithIndex(s3, bucket, label, index!)).toEqual([]);
      } finally {
        open();
        slow.destroy();
      }
    }, 60000);

    test('cleanups racing 16 publishers x 10 rounds: the index never names a missing object and no new entry is lost', async () => {
      const bucket = 'stale-writers';
      const label = 'stale';
      await rgw.createBucket(bucket, { versioning: true });
      const seeder = new S3ImageStore({ bucket, client: s3 });
      // The publishers are on a slow link: their index writes land up to 150 ms after the read.
      const { workers, kill } = await startPublishers(16, worker.file, { ...env, [INDEX_DELAY_ENV]: '150' });
      const published: string[] = [];
      const removed: string[] = [];
      let serial = 0;
      const seedOld = async (round: number) => {
        const seed = await image({ name: `old${serial % 3}`, label, timestamp: daysAgo(40, (serial += 1)), dir: `stale-seed-${round}-${serial}` });
        await seeder.put(seed, silentLog);
      };
      try {
        // Warm-up, one at a time: each worker's first write to an existing index finds that
        // this server refuses every If-Match, and from then on writes unconditionally.
        for (const [i, w] of workers.entries()) {
          const warm = await image({ name: `warm${i}`, label, timestamp: daysAgo(1, (serial += 1)), dir: `stale-warm-${i}` });
          expect(await w.publish(bucket, warm)).toMatchObject({ ok: true });
          published.push(warm.imageName);
        }
        for (let round = 0; round < 10; round += 1) {
          // Old images (40 days) for a cleanup to remove while the publishers write the index.
          for (let i = 0; i < 6; i += 1) await seedOld(round);
          // Each publisher publishes three images one after the other: index writes go on
          // all through the cleanup.
          const fresh = await Promise.all(
            workers.map((_, i) => Promise.all([0, 1, 2].map((k) => image({ name: `app${i}x${k}`, label, timestamp: daysAgo(0, (serial += 1)), dir: `stale-${round}-${i}-${k}` })))),
          );
          const freshNames = new Set(fresh.flat().map((f) => f.imageName));
          const publishers = Promise.all(
            workers.map(async (w, i) => {
              const replies = [];
              for (const one of fresh[i]) replies.push(await w.publish(bucket, one));
              return replies;
            }),
          ).then((replies) => replies.flat());
          // The cleanup starts once the publishers are writing the index.
          for (let tries = 0; tries < 2000; tries += 1) {
            if (indexedNames(await readIndex(s3, bucket, label)).some((n) => freshNames.has(n))) break;
            await new Promise((resolve) => setTimeout(resolve, 2));
          }
          // (It removes what the index names when it reads it: where writes are unconditional
          // a racing writer may have dropped some entries for a moment, which their entry
          // objects bring back, and a later cleanup takes.)
          const report = await cleanup(bucket, label);
          removed.push(...report.removed.map((r) => r.imageName));
          const replies = await publishers;
          expect(replies.filter((r) => !r.ok)).toEqual([]);
          published.push(...freshNames);

          const index = await readIndex(s3, bucket, label);
          expect(await problemsWithIndex(s3, bucket, label, index!)).toEqual([]);
          const names = indexedNames(index);
          for (const name of removed) expect(names).not.toContain(name);
          expect(names.filter((n) => !n.includes('_old'))).toEqual([...published].sort());
        }
        // The cleanups did remove images while the publishers wrote (6 seeded per round).
        expect(removed.length).toBeGreaterThanOrEqual(50);
      } finally {
        kill();
      }
    }, 480000);
  });

  describe('the streams after the index', () => {
    test('another release\'s broken index: the image is published and indexed, the streams are a warning naming the object, and later publishes are not wedged', async () => {
      const bucket = 'streams-broken';
      await rgw.createBucket(bucket);
      const store = new S3ImageStore({ bucket, client: s3 });
      await store.put(await image({ label: 'iceberg', dir: 'sb-ice' }), silentLog);
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'iceberg/images/index', Body: '{ broken' }));
      for (const timestamp of ['20260301.111500', '20260301.121500']) {
        const built = await image({ timestamp, dir: `sb-${timestamp}` });
        const next = new S3ImageStore({ bucket, client: s3, images: [plannedOf(built)] });
        await next.verify();
        const log = collectingLog();
        await next.put(built, log);
        expect(log.warnings).toEqual([`simplestreams files in s3://${bucket}/streams/v1 not updated: s3://${bucket}/iceberg/images/index is not valid JSON`]);
        expect(indexedNames(await readIndex(s3, bucket, 'hotdog'))).toContain(built.imageName);
      }
    }, 60000);

    test('a planned release\'s index that is corrupt or not an object fails verify with one line (BuildError), nothing uploaded', async () => {
      const bucket = 'index-broken';
      await rgw.createBucket(bucket);
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'corrupt/images/index', Body: '{"20260101.000000": ' }));
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'array/images/index', Body: '[1, 2]' }));
      for (const [label, says] of [['corrupt', 'is not valid JSON'], ['array', 'is not a tailor image index (expected an object keyed by timestamp)']]) {
        const planned = plannedOf(await image({ label, dir: `ib-${label}` }));
        const error = await failure(new S3ImageStore({ bucket, client: s3, images: [planned] }).verify());
        expect(error).toBeInstanceOf(BuildError);
        expect(error).not.toBeInstanceOf(UsageError);
        expect(error.message).toBe(`s3://${bucket}/${label}/images/index ${says}`);
      }
      expect(await keysOf(bucket, '')).toEqual(['array/images/index', 'corrupt/images/index']);
    }, 30000);
  });
});
