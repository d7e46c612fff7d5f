import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { ImageFactory, ImageStore, RecipeSource } from '../../lib/constructs';
import { TEST_CACHE_DIR } from '../support/cli';
import { describeWith, rootUser, tool } from '../support/prereq';
import { rgwPrerequisites, useRgw } from '../support/rgw';
import { headOrUndefined, objectBytes, problemsWithIndex, readIndex } from '../support/s3-inspect';
import { syntheticImage } from '../support/synthetic-image';
import {
  ProjectRun, SynthesizedFactory, codebuildEnv, failure, projectRun, runPhases, synthesizeFactory, unpackAsset,
} from '../support/buildspec-runner';
import { silentLog } from '../../lib/core/log';
import { S3ImageStore } from '../../lib/storage/s3/s3-store';
import { createHash } from 'node:crypto';

/**
 * The synthesized buildspecs really run: the webapp and cleanup projects' buildspecs are taken
 * from the synthesized template and its phases' commands run here, in the unpacked builder asset,
 * with the environment the project gives CodeBuild (tokens resolved to this test's
 * bucket) and S3 pointed at a local Ceph RGW, with full rights (buildspec-iam.test.ts runs
 * them with only what the roles are granted). A real LXD image is built from the Debian
 * mirror and published (the artifact and the index must land in the bucket), and the
 * cleanup applies its retention policy to seeded images.
 */

const BUCKET = 'factory-images';
const TIMESTAMP = '20261126.101500';

/** The webapp build project and the cleanup project, as synthesized, with their variables resolved. */
function synthesize(): { synthesized: SynthesizedFactory; build: ProjectRun; cleanup: ProjectRun } {
  const synthesized = synthesizeFactory((stack) => new ImageFactory(stack, 'Factory', { recipes: RecipeSource.bundled(), images: ['webapp'] }));
  const { factory, logicalId } = synthesized;
  const names: Record<string, string> = {
    [logicalId(factory.store.bucket)]: BUCKET,
    // No CloudFront here: an empty id means no invalidation.
    [logicalId((factory.store as ImageStore).distribution)]: '',
    [logicalId(factory.cacheBucket)]: 'factory-cache',
  };
  const arns = { [`${logicalId((factory.store as ImageStore).distribution)}.DomainName`]: 'images.cloudfront.example' };
  return {
    synthesized,
    build: projectRun(synthesized, factory.projects.webapp.project, names, arns),
    cleanup: projectRun(synthesized, factory.cleanup.project, names, arns),
  };
}

describeWith(
  'the synthesized buildspecs, run locally against RGW',
  [...rgwPrerequisites, rootUser(), tool('mmdebstrap'), tool('bash')],
  () => {
    const rgw = useRgw([{ name: BUCKET, versioning: true }]);
    let synthesized: ReturnType<typeof synthesize>;
    const dirs: string[] = [];

    beforeAll(() => {
      synthesized = synthesize();
    }, 120000);

    afterAll(() => {
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }, 60000);

    test('cleanup-images.yml applies the project\'s retention policy to the release', async () => {
      const { cleanup } = synthesized;
      expect(cleanup.env.IMAGE_BUCKET).toBe(BUCKET);
      const work = mkdtempSync(join(tmpdir(), 'cleanup-seed-'));
      dirs.push(work);
      const store = new S3ImageStore({ bucket: BUCKET, client: rgw.s3 });
      const stamps = ['20260101.000000', '20260102.000000', '20260103.000000'];
      for (const timestamp of stamps) {
        await store.put(await syntheticImage({ dir: work, name: 'robot', distribution: 'jammy', releaseLabel: 'hotdog', timestamp, size: 1024 }), silentLog);
      }
      const src = unpackAsset(synthesized.synthesized.assetDir);
      dirs.push(src);
      // NUM_TO_KEEP is the project's (10); keep 1 for this run, as `trigger --set` would.
      const result = await runPhases(cleanup.buildSpec, src, codebuildEnv(cleanup, src, { ...rgw.server.env, NUM_TO_KEEP: '1' }));
      if (result.code !== 0) throw new Error(failure(result));
      expect(result.output).toContain('2 of 3 image(s) removed');
      const index = await readIndex(rgw.s3, BUCKET, 'hotdog');
      expect(Object.keys(index ?? {}).filter((t) => index![t].raw?.robot)).toEqual(['20260103.000000']);
      expect(await headOrUndefined(rgw.s3, BUCKET, `hotdog/images/acme_robot_jammy_hotdog_${stamps[0]}.tar.gz`)).toBeUndefined();
      expect(await headOrUndefined(rgw.s3, BUCKET, `hotdog/images/acme_robot_jammy_hotdog_${stamps[2]}.tar.gz`)).toBeDefined();
    }, 120000);

    test('build-image.yml builds webapp for bookworm and publishes the image and its index entry', async () => {
      const { build } = synthesized;
      expect(build.env.IMAGE_BUCKET).toBe(BUCKET);
      const src = unpackAsset(synthesized.synthesized.assetDir);
      dirs.push(src);
      const result = await runPhases(build.buildSpec, src, codebuildEnv(build, src, {
        ...rgw.server.env, DISTRIBUTION: 'bookworm', TIMESTAMP, TAILOR_IMAGE_CACHE_DIR: TEST_CACHE_DIR,
      }));
      if (result.code !== 0) throw new Error(failure(result));

      const image = `acme_webapp_bookworm_hotdog_${TIMESTAMP}`;
      const key = `hotdog/images/${image}.tar.gz`;
      const head = await rgw.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
      expect(head.ContentLength).toBeGreaterThan(10 << 20);
      const md5 = createHash('md5').update(await objectBytes(rgw.s3, BUCKET, key)).digest('hex');
      expect(head.Metadata?.md5).toBe(md5);

      const index = await readIndex(rgw.s3, BUCKET, 'hotdog');
      expect(index?.[TIMESTAMP]?.raw?.webapp?.bookworm).toEqual(expect.objectContaining({ file: image, checksum: md5 }));
      expect(await problemsWithIndex(rgw.s3, BUCKET, 'hotdog', index!)).toEqual([]);
      // The summary the buildspec prints names the published image.
      expect(result.output).toContain(image);
    }, 30 * 60 * 1000);
  },
);
