import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCreateImage } from '../support/cli';
import { describeWith, rootUser, tool } from '../support/prereq';
import { rgwPrerequisites, useRgw } from '../support/rgw';
import { indexedNames, md5, objectBytes, problemsWithIndex, readIndex } from '../support/s3-inspect';

/**
 * A real LXD image built and published by `create_image --publish` as a user runs it,
 * with the S3 endpoint and credentials only in the standard AWS environment variables.
 */
describeWith('create_image --publish of a real LXD image (Ceph RGW on loopback)', [...rgwPrerequisites, tool('mmdebstrap'), rootUser()], () => {
  const rgw = useRgw(['e2e-images']);
  let work: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'tailor-publish-e2e-'));
  });

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  }, 30000);

  test('the image, its checksum files and manifest are in the bucket and the index names them', async () => {
    const result = await runCreateImage(
      ['--name', 'webapp', '--distribution', 'bookworm', '--publish', '--apt-repo', 's3://e2e-images', '--no-bundle',
        '--organization', 'acme', '--release-label', 'e2e', '--json', '--work-dir', join(work, 'builds')],
      { env: { ...rgw.server.env, NODE_NO_WARNINGS: '1' }, cwd: work, timeoutMs: 900000 },
    );
    expect({ code: result.code, stderr: result.code === 0 ? '' : result.stderr.slice(-2000) }).toEqual({ code: 0, stderr: '' });
    const summary = JSON.parse(result.stdout) as { image_name: string; artifacts: { file: string; md5: string; sha256: string; size: number }[] };
    const [artifact] = summary.artifacts;
    expect(artifact.file).toBe(`${summary.image_name}.tar.gz`);

    const bytes = await objectBytes(rgw.s3, 'e2e-images', `e2e/images/${artifact.file}`);
    expect(bytes.length).toBe(artifact.size);
    expect(md5(bytes)).toBe(artifact.md5);
    const tarball = join(work, artifact.file);
    await writeFile(tarball, bytes);
    const listing = execFileSync('tar', ['-tzf', tarball], { maxBuffer: 64 << 20 }).toString().split('\n');
    expect(listing).toContain('metadata.yaml');
    expect(listing.some((line) => line.startsWith('rootfs/usr/bin/'))).toBe(true);

    const manifest = (await objectBytes(rgw.s3, 'e2e-images', `e2e/images/${summary.image_name}.manifest`)).toString();
    expect(manifest).toMatch(/^base-files\t/m);
    const index = await readIndex(rgw.s3, 'e2e-images', 'e2e');
    expect(indexedNames(index)).toEqual([summary.image_name]);
    expect(await problemsWithIndex(rgw.s3, 'e2e-images', 'e2e', index!)).toEqual([]);
  }, 900000);
});
