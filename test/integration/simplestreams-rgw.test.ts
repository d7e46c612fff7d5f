import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { silentLog } from '../../lib/core/log';
import { rewriteBucketStreams } from '../../lib/storage/s3/bucket-streams';
import { LocalStore } from '../../lib/storage/local/local-store';
import { S3ImageStore } from '../../lib/storage/s3/s3-store';
import { describeWith } from '../support/prereq';
import { rgwPrerequisites, useRgw } from '../support/rgw';
import { syntheticImage } from '../support/synthetic-image';

const BUCKET = 'streams-test';
const STREAMS = ['streams/v1/images.json', 'streams/v1/index.json'];

describeWith('simplestreams published to S3 (Ceph RGW) match the local store byte for byte', rgwPrerequisites, () => {
  const rgw = useRgw([BUCKET]);
  let work: string;
  let local: string;

  const object = async (key: string) => {
    const out = await rgw.s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return { body: (await out.Body!.transformToString('utf8')), contentType: out.ContentType, cacheControl: out.CacheControl };
  };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'streams-rgw-'));
    local = join(work, 'local');
    const seeds = [
      { name: 'webapp', distribution: 'bookworm', releaseLabel: 'hotdog', timestamp: '20261126.101500' },
      { name: 'webapp', distribution: 'bookworm', releaseLabel: 'hotdog', timestamp: '20261126.111500' },
      { name: 'webapp', distribution: 'jammy', releaseLabel: 'iceberg', timestamp: '20261126.111500' },
      { name: 'floor', distribution: 'bookworm', releaseLabel: 'hotdog', timestamp: '20261126.121500', buildType: 'bare_metal' as const },
    ];
    for (const seed of seeds) {
      const image = await syntheticImage({ dir: join(work, 'built'), ...seed, size: 4096 });
      await new S3ImageStore({ bucket: BUCKET, client: rgw.s3 }).put(image, silentLog);
      await new LocalStore(local).put(image, silentLog);
    }
  }, 180000);

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  }, 30000);

  test('publishing wrote the same streams/v1 files as the local store, with the short cache rule', async () => {
    for (const key of STREAMS) {
      const published = await object(key);
      expect(published.body).toBe(await readFile(join(local, key), 'utf8'));
      expect(published.contentType).toBe('application/json');
      expect(published.cacheControl).toMatch(/max-age=60\b/);
    }
    const products = JSON.parse((await object('streams/v1/images.json')).body).products;
    expect(Object.keys(products).sort()).toEqual(['webapp:bookworm:default:amd64', 'webapp:jammy:default:amd64']);
    expect(Object.keys(products['webapp:bookworm:default:amd64'].versions)).toEqual(['20261126.101500', '20261126.111500']);
    expect(products['webapp:jammy:default:amd64'].versions['20261126.111500'].items['lxd_combined.tar.gz'].path)
      .toBe('iceberg/images/acme_webapp_jammy_iceberg_20261126.111500.tar.gz');
  });

  test('the published streams were already up to date: rewriting them writes nothing', async () => {
    expect((await rewriteBucketStreams({ client: rgw.s3, bucket: BUCKET })).writes).toBe(0);
  });
});
