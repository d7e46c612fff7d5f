import { createServer, IncomingMessage, Server } from 'node:http';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFrontClient } from '@aws-sdk/client-cloudfront';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { silentLog } from '../../lib/core/log';
import { S3ImageStore } from '../../lib/storage/s3/s3-store';
import { BuiltImage } from '../../lib/core/image';
import { bundlePublishWorker } from '../support/bundle-worker';
import { describeWith } from '../support/prereq';
import { rgwPrerequisites, useRgw } from '../support/rgw';
import { indexedNames, md5, objectBytes, problemsWithIndex, readIndex } from '../support/s3-inspect';
import { syntheticImage } from '../support/synthetic-image';
import { gpgvVerifies, makeSigningKey } from '../support/signing-key';

const execFileAsync = promisify(execFile);

/** A stand-in for the CloudFront API on loopback that records CreateInvalidation calls. */
interface FakeCloudFront {
  endpoint: string;
  calls: { method: string; url: string; body: string }[];
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => resolve(body));
  });
}

async function startFakeCloudFront(): Promise<FakeCloudFront> {
  const calls: FakeCloudFront['calls'] = [];
  const server: Server = createServer(async (req, res) => {
    const body = await readBody(req);
    calls.push({ method: req.method ?? '', url: req.url ?? '', body });
    const id = `I${calls.length}`;
    res.writeHead(201, { 'content-type': 'text/xml', location: `https://cloudfront.amazonaws.com${req.url}/${id}` });
    res.end(
      `<?xml version="1.0" encoding="UTF-8"?><Invalidation xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">` +
        `<Id>${id}</Id><Status>InProgress</Status><CreateTime>2026-01-01T00:00:00Z</CreateTime>` +
        `<InvalidationBatch><Paths><Quantity>1</Quantity><Items><Path>/x</Path></Items></Paths><CallerReference>r</CallerReference></InvalidationBatch></Invalidation>`,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { endpoint: `http://127.0.0.1:${port}`, calls, close: () => new Promise((r) => server.close(() => r())) };
}

describeWith('publish to S3 (Ceph RGW on loopback)', rgwPrerequisites, () => {
  const rgw = useRgw();
  let work: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'tailor-s3-publish-'));
  });

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  }, 30000);

  test('publishes images of several sizes: objects, metadata, checksums, cache rules and index', async () => {
    await rgw.server.createBucket('publish-plain');
    const store = new S3ImageStore({ bucket: 'publish-plain', client: rgw.s3, tuning: { partSize: 5 << 20, queueSize: 4 } });
    await store.verify();
    const images: BuiltImage[] = [];
    const specs: [string, string, number, 'lxd' | 'bare_metal'][] = [
      ['webapp', 'bookworm', 12 * 1024 * 1024 + 12345, 'lxd'], // multipart: 3 parts
      ['webapp', 'jammy', 5 * 1024 * 1024, 'lxd'], // exactly one part
      ['robot', 'bookworm', 777, 'bare_metal'],
      ['empty', 'bookworm', 0, 'lxd'],
    ];
    for (const [i, [name, distribution, size, buildType]] of specs.entries()) {
      const image = await syntheticImage({ dir: work, name, distribution, releaseLabel: 'hotdog', timestamp: `20260102.10000${i}`, size, buildType });
      const stored = await store.put(image, silentLog);
      expect(stored.mode).toBe('publish');
      expect(stored.index).toBe('s3://publish-plain/hotdog/images/index');
      expect(stored.files[0].location).toBe(`s3://publish-plain/hotdog/images/${image.artifacts[0].fileName}`);
      images.push(image);
    }

    for (const image of images) {
      const artifact = image.artifacts[0];
      const key = `hotdog/images/${artifact.fileName}`;
      const head = await rgw.s3.send(new HeadObjectCommand({ Bucket: 'publish-plain', Key: key }));
      expect(head.ContentLength).toBe(artifact.size);
      expect(head.Metadata).toEqual({ md5: artifact.md5, sha256: artifact.sha256 });
      expect(head.CacheControl).toBe('public, max-age=31536000, immutable');
      expect(head.ContentType).toBe(artifact.fileName.endsWith('.raw.xz') ? 'application/x-xz' : 'application/gzip');
      const bytes = await objectBytes(rgw.s3, 'publish-plain', key);
      expect(md5(bytes)).toBe(artifact.md5);
      expect((await objectBytes(rgw.s3, 'publish-plain', `hotdog/images/${image.imageName}.md5`)).toString()).toBe(`${artifact.md5}  ${artifact.fileName}\n`);
      expect((await objectBytes(rgw.s3, 'publish-plain', `hotdog/images/${image.imageName}.sha256`)).toString()).toBe(`${artifact.sha256}  ${artifact.fileName}\n`);
      expect((await objectBytes(rgw.s3, 'publish-plain', `hotdog/images/${image.imageName}.manifest`)).toString()).toBe(await readFile(image.manifestPath, 'utf8'));
      const entry = JSON.parse((await objectBytes(rgw.s3, 'publish-plain', `hotdog/images/entries/${image.imageName}.json`)).toString());
      expect(entry.entry).toMatchObject({ file: image.imageName, checksum: artifact.md5, sha256: artifact.sha256, size: artifact.size });
    }

    const index = await readIndex(rgw.s3, 'publish-plain', 'hotdog');
    expect(index).toBeDefined();
    // The tailor shape, exactly as existing consumers index it.
    expect(index!['20260102.100000'].raw.webapp.bookworm).toMatchObject({ file: images[0].imageName, checksum: images[0].artifacts[0].md5 });
    expect(index!['20260102.100001'].raw.webapp.jammy).toMatchObject({ file: images[1].imageName, checksum: images[1].artifacts[0].md5 });
    expect(index!['20260102.100002'].raw.robot.bookworm.build_type).toBe('bare_metal');
    expect(indexedNames(index)).toEqual(images.map((i) => i.imageName).sort());
    expect(await problemsWithIndex(rgw.s3, 'publish-plain', 'hotdog', index!)).toEqual([]);

    const indexObject = await rgw.s3.send(new GetObjectCommand({ Bucket: 'publish-plain', Key: 'hotdog/images/index' }));
    expect(indexObject.CacheControl).toBe('public, max-age=60, must-revalidate');
    expect(indexObject.ContentType).toBe('application/json');
  }, 120000);

  test('a signed release: SBOMs published and named; SHA256SUMS, SHA256SUMS.gpg and index.gpg verify with gpgv after each publish', async () => {
    await rgw.server.createBucket('publish-signed');
    const key = makeSigningKey(work);
    const store = new S3ImageStore({ bucket: 'publish-signed', client: rgw.s3, signingKey: key.secretKeyFile });
    await store.verify();
    const images: BuiltImage[] = [];
    for (const [i, name] of ['webapp', 'robot'].entries()) {
      const image = await syntheticImage({ dir: work, name, distribution: 'bookworm', releaseLabel: 'signed', timestamp: `20260102.13000${i}`, size: 2000 + i });
      const sbom = { spdx: join(work, `${image.imageName}.spdx.json`), cyclonedx: join(work, `${image.imageName}.cdx.json`) };
      await writeFile(sbom.spdx, '{"spdxVersion":"SPDX-2.3"}\n');
      await writeFile(sbom.cyclonedx, '{"bomFormat":"CycloneDX"}\n');
      images.push({ ...image, sbomPaths: sbom });
      await store.put(images[i], silentLog);

      const download = join(work, `signed-${i}`);
      await mkdir(download, { recursive: true });
      const get = async (name: string) => {
        const bytes = await objectBytes(rgw.s3, 'publish-signed', `signed/images/${name}`);
        await writeFile(join(download, name), bytes);
        return bytes;
      };
      const sums = (await get('SHA256SUMS')).toString();
      await get('SHA256SUMS.gpg');
      await get('index');
      await get('index.gpg');
      expect(gpgvVerifies(key.publicKeyFile, join(download, 'SHA256SUMS.gpg'), join(download, 'SHA256SUMS'))).toBe(true);
      expect(gpgvVerifies(key.publicKeyFile, join(download, 'index.gpg'), join(download, 'index'))).toBe(true);
      // Every file of every indexed image, and nothing else; each digest is the object's.
      const listed = sums.trim().split('\n').map((line) => line.slice(66));
      const expected = images.flatMap((im) => [im.artifacts[0].fileName, `${im.imageName}.md5`, `${im.imageName}.sha256`, `${im.imageName}.manifest`, `${im.imageName}.spdx.json`, `${im.imageName}.cdx.json`]);
      expect(listed).toEqual(expected.sort());
      for (const name of listed) await get(name);
      await expect(execFileAsync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: download })).resolves.toBeDefined();
      const changed = join(download, 'SHA256SUMS.changed');
      await writeFile(changed, sums.replace(/^./, (c) => (c === '0' ? '1' : '0')));
      expect(gpgvVerifies(key.publicKeyFile, join(download, 'SHA256SUMS.gpg'), changed)).toBe(false);
    }
    const index = await readIndex(rgw.s3, 'publish-signed', 'signed');
    expect(index!['20260102.130000'].raw.webapp.bookworm).toMatchObject({ spdx: `${images[0].imageName}.spdx.json`, cyclonedx: `${images[0].imageName}.cdx.json` });
    const head = await rgw.s3.send(new HeadObjectCommand({ Bucket: 'publish-signed', Key: `signed/images/${images[0].imageName}.spdx.json` }));
    expect(head.ContentType).toBe('application/spdx+json');
  }, 120000);

  test('a changed file after checksumming is refused and never reaches the index', async () => {
    await rgw.server.createBucket('publish-tamper');
    const store = new S3ImageStore({ bucket: 'publish-tamper', client: rgw.s3 });
    const image = await syntheticImage({ dir: work, name: 'tamper', distribution: 'bookworm', releaseLabel: 'hotdog', timestamp: '20260102.110000', size: 4096 });
    image.artifacts[0].md5 = '0'.repeat(32);
    await expect(store.put(image, silentLog)).rejects.toThrow(/publish of acme_tamper_bookworm_hotdog_20260102\.110000 failed while uploading/);
    expect(await readIndex(rgw.s3, 'publish-tamper', 'hotdog')).toBeUndefined();
    const listed = await rgw.s3.send(new ListObjectsV2Command({ Bucket: 'publish-tamper', Prefix: 'hotdog/images/entries/' }));
    expect(listed.KeyCount ?? 0).toBe(0);
  }, 60000);

  test('publishing the same image again is a no-op; other bytes under a published name are refused', async () => {
    await rgw.server.createBucket('publish-again');
    const store = new S3ImageStore({ bucket: 'publish-again', client: rgw.s3 });
    const image = await syntheticImage({ dir: work, name: 'again', distribution: 'bookworm', releaseLabel: 'hotdog', timestamp: '20260102.120000', size: 3000 });
    await store.put(image, silentLog);
    await store.put(image, silentLog);
    expect(indexedNames(await readIndex(rgw.s3, 'publish-again', 'hotdog'))).toEqual([image.imageName]);
    const other = await syntheticImage({ dir: join(work, 'other'), name: 'again', distribution: 'bookworm', releaseLabel: 'hotdog', timestamp: '20260102.120000', size: 3000 });
    await expect(store.put(other, silentLog)).rejects.toThrow(/already exists with other content/);
    const index = await readIndex(rgw.s3, 'publish-again', 'hotdog');
    expect(index!['20260102.120000'].raw.again.bookworm.checksum).toBe(image.artifacts[0].md5);
  }, 60000);

  test('a missing bucket fails verify() with one line', async () => {
    const store = new S3ImageStore({ bucket: 'no-such-bucket', client: rgw.s3 });
    await expect(store.verify()).rejects.toThrow(/^cannot publish to s3:\/\/no-such-bucket: .*NoSuchBucket.*HTTP 404/);
  });

  test('CloudFront: the index path is invalidated when a distribution is configured, and not otherwise', async () => {
    await rgw.server.createBucket('publish-cdn');
    const cdn = await startFakeCloudFront();
    const cloudFront = new CloudFrontClient({
      endpoint: cdn.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: rgw.server.accessKeyId, secretAccessKey: rgw.server.secretAccessKey },
    });
    try {
      const without = new S3ImageStore({ bucket: 'publish-cdn', client: rgw.s3, cloudFront });
      await without.put(await syntheticImage({ dir: work, name: 'nocdn', distribution: 'bookworm', releaseLabel: 'cdn', timestamp: '20260103.000000', size: 100 }), silentLog);
      expect(cdn.calls).toEqual([]);

      const withCdn = new S3ImageStore({ bucket: 'publish-cdn', client: rgw.s3, cloudFront, cloudfrontDistributionId: 'E2TESTDIST' });
      await withCdn.put(await syntheticImage({ dir: work, name: 'cdn', distribution: 'bookworm', releaseLabel: 'cdn', timestamp: '20260103.000001', size: 100 }), silentLog);
      expect(cdn.calls).toHaveLength(1);
      expect(cdn.calls[0].method).toBe('POST');
      expect(cdn.calls[0].url).toBe('/2020-05-31/distribution/E2TESTDIST/invalidation');
      expect(cdn.calls[0].body).toContain('<Path>/cdn/images/index</Path>');
      // The simplestreams files follow the index, so they are invalidated with it.
      expect(cdn.calls[0].body).toContain('<Path>/streams/v1/*</Path>');
      expect(cdn.calls[0].body).toContain('<Quantity>2</Quantity>');

      // A publisher configured only by the environment, as in CodeBuild: the CloudFront
      // endpoint comes from AWS_ENDPOINT_URL_CLOUDFRONT through the SDK's own chain.
      const image = await syntheticImage({ dir: work, name: 'envcdn', distribution: 'jammy', releaseLabel: 'cdn', timestamp: '20260103.000002', size: 100 });
      const imageFile = join(work, 'envcdn.json');
      await writeFile(imageFile, JSON.stringify(image));
      const worker = await bundlePublishWorker();
      try {
        const env = { ...process.env, ...rgw.server.env, AWS_ENDPOINT_URL_CLOUDFRONT: cdn.endpoint, NODE_NO_WARNINGS: '1' };
        // Asynchronously: the stand-in CloudFront answers from this very process.
        const out = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
          const child = spawn(process.execPath, [worker.file, 'publish-cdn', imageFile, 'E3FROMENV'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
          let stderr = '';
          child.stderr.on('data', (c) => (stderr += c));
          const timer = setTimeout(() => child.kill('SIGKILL'), 45000);
          child.on('close', (code) => {
            clearTimeout(timer);
            resolve({ code, stderr });
          });
        });
        expect(out).toEqual({ code: 0, stderr: '' });
      } finally {
        await rm(worker.dir, { recursive: true, force: true });
      }
      expect(cdn.calls).toHaveLength(2);
      expect(cdn.calls[1].url).toBe('/2020-05-31/distribution/E3FROMENV/invalidation');
      expect(cdn.calls[1].body).toContain('<Path>/cdn/images/index</Path>');
    } finally {
      cloudFront.destroy();
      await cdn.close();
    }
  }, 60000);
});
