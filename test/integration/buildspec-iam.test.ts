import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import {
  HeadObjectCommand, ListMultipartUploadsCommand, ListObjectVersionsCommand, PutObjectCommand, S3Client,
} from '@aws-sdk/client-s3';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { BuildSecret, ImageFactory, ImageStore, RecipeSource } from '../../lib/constructs';
import { silentLog } from '../../lib/core/log';
import { S3ImageStore } from '../../lib/storage/s3/s3-store';
import { TestAptRepoTree, buildTestAptRepo } from '../support/apt-repo';
import {
  PolicyStatement, ProjectRun, SynthesizedFactory, codebuildEnv, describeStatement, failure, policyDocument, projectRun,
  runPhases, s3PolicyOf, synthesizeFactory, unpackAsset,
} from '../support/buildspec-runner';
import { TEST_CACHE_DIR } from '../support/cli';
import { describeWith, rootUser, tool } from '../support/prereq';
import { TestRegistry, startRegistry } from '../support/registry';
import { RgwServer, RgwUser, rgwPrerequisites, startRgw } from '../support/rgw';
import { objectBytes, problemsWithIndex, readIndex } from '../support/s3-inspect';
import { syntheticImage } from '../support/synthetic-image';

/**
 * A deployment rehearsal under the synthesized permissions. The build and cleanup roles'
 * policies are taken from the synthesized template; their S3 statements (actions,
 * resources, conditions) become the policies of Ceph RGW users, which RGW evaluates as AWS
 * does (`s3:prefix` conditions included, and a HEAD of a missing key answered with 403 where
 * no ListBucket applies). The synthesized buildspecs then run as those users: an lxd publish
 * whose org APT repository is in S3 (s3://, without InRelease: apt's fallback needs a 404
 * for it), a docker publish with its registry, and a cleanup. Each succeeds with exactly
 * what was granted; with any one S3 statement removed, each fails before any work with one
 * line naming the refused call and the key or prefix.
 */

const STORE = 'factory-images';
const APT = 'factory-apt';
const APT_PREFIX = 'repos';
const CACHE = 'factory-cache';
const LXD_TIMESTAMP = '20261201.101500';
const DOCKER_TIMESTAMP = '20261201.102000';
const REFUSED_CALL = /(HeadObject|GetObject|ListObjectsV2|ListObjectVersions|CreateMultipartUpload|AbortMultipartUpload|PutObject|DeleteObject) s3:\/\/[a-z0-9.-]+\/\S* ?(\(prefix "[^"]*"\) )?(\(version \S+\) )?refused/;

interface Rehearsal {
  synthesized: SynthesizedFactory;
  webapp: ProjectRun;
  devEnv: ProjectRun;
  cleanup: ProjectRun;
  policies: { webapp: PolicyStatement[]; devEnv: PolicyStatement[]; cleanup: PolicyStatement[] };
}

function rehearse(registry: TestRegistry): Rehearsal {
  const synthesized = synthesizeFactory((stack) => new ImageFactory(stack, 'Factory', {
    recipes: RecipeSource.bundled(),
    images: ['webapp', 'dev-env'],
    aptRepo: `s3://${APT}/${APT_PREFIX}`,
    aptRepoKey: BuildSecret.fromSsmParameter(
      ssm.StringParameter.fromSecureStringParameterAttributes(stack, 'AptKey', { parameterName: '/acme/apt-key' })),
    dockerRegistry: `http://${registry.address}`,
  }));
  const { factory, logicalId } = synthesized;
  const store = factory.store as ImageStore;
  const names = {
    [logicalId(store.bucket)]: STORE,
    // No CloudFront here: an empty id means no invalidation (and CloudFront is not S3).
    [logicalId(store.distribution)]: '',
    [logicalId(factory.cacheBucket)]: CACHE,
  };
  const arns = {
    [`${logicalId(store.bucket)}.Arn`]: `arn:aws:s3:::${STORE}`,
    [`${logicalId(factory.cacheBucket)}.Arn`]: `arn:aws:s3:::${CACHE}`,
    [`${logicalId(store.distribution)}.DomainName`]: 'images.cloudfront.example',
  };
  const policy = (project: { role?: unknown }) =>
    s3PolicyOf(synthesized, project.role as never, names, arns, [STORE, APT]);
  return {
    synthesized,
    webapp: projectRun(synthesized, factory.projects.webapp.project, names, arns),
    devEnv: projectRun(synthesized, factory.projects['dev-env'].project, names, arns),
    cleanup: projectRun(synthesized, factory.cleanup.project, names, arns),
    policies: {
      webapp: policy(factory.projects.webapp.project),
      devEnv: policy(factory.projects['dev-env'].project),
      cleanup: policy(factory.cleanup.project),
    },
  };
}

/** Every file of a folder, as keys under a prefix. */
function filesUnder(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .map((path) => join(root, path))
    .filter((path) => statSync(path).isFile());
}

function errorLine(output: string, command: string): string | undefined {
  return output.split('\n').filter((line) => line.startsWith(`${command}: error: `)).pop();
}

describeWith(
  'the synthesized roles, rehearsed: the buildspecs run as RGW users holding only what the roles are granted',
  [
    ...rgwPrerequisites, rootUser(), tool('mmdebstrap'), tool('bash'), tool('docker-registry'), tool('skopeo'),
    tool('apt-ftparchive', 'apt-utils'), tool('dpkg-deb', 'dpkg'), tool('gpg', 'gnupg'), tool('ansible'),
  ],
  () => {
    let rgw: RgwServer;
    /** Sets up and inspects the buckets. RGW objects belong to their writer and the bucket
     * owner has no say over another user's objects; a user policy allowing s3:* does. */
    let admin: S3Client;
    let registry: TestRegistry;
    let repo: TestAptRepoTree;
    let rehearsal: Rehearsal;
    let aptKey: string;
    const dirs: string[] = [];

    beforeAll(async () => {
      rgw = await startRgw();
      await rgw.createBucket(STORE, { versioning: true });
      await rgw.createBucket(APT);
      const everything = [STORE, APT].flatMap((bucket) => [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`]);
      admin = (await rgw.limitedUser('inspector', policyDocument([{ Effect: 'Allow', Action: ['s3:*'], Resource: everything }]))).client();
      registry = await startRegistry();
      repo = buildTestAptRepo({
        releaseLabel: 'hotdog',
        distribution: 'bookworm',
        withoutInRelease: true,
        packages: [
          { name: 'acme-webapp-hotdog', version: '1.0', files: { '/opt/acme/bundle-webapp': 'webapp bundle\n' } },
          { name: 'acme-dev-env-hotdog', version: '1.0', files: { '/opt/acme/bundle-dev-env': 'dev-env bundle\n' } },
        ],
      });
      for (const file of filesUnder(repo.root)) {
        await admin.send(new PutObjectCommand({ Bucket: APT, Key: `${APT_PREFIX}/${relative(repo.root, file)}`, Body: readFileSync(file) }));
      }
      aptKey = readFileSync(repo.keyFile, 'utf8');
      // Another release's index: reading every release's index (the simplestreams view) is needed.
      await admin.send(new PutObjectCommand({ Bucket: STORE, Key: 'nightly/images/index', Body: '{}\n' }));
      rehearsal = rehearse(registry);
    }, 180000);

    afterAll(async () => {
      admin?.destroy();
      await rgw?.stop();
      await registry?.stop();
      repo?.remove();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }, 60000);

    /** Runs a project's buildspec as an RGW user holding `statements`. */
    async function runAs(uid: string, statements: PolicyStatement[], run: ProjectRun, overrides: Record<string, string> = {}) {
      const user: RgwUser = await rgw.limitedUser(uid, policyDocument(statements));
      const src = unpackAsset(rehearsal.synthesized.assetDir);
      dirs.push(src);
      return runPhases(run.buildSpec, src, codebuildEnv(run, src, {
        ...user.env,
        // What CodeBuild resolves from SSM when the build starts.
        APT_REPO_KEY: aptKey,
        DISTRIBUTION: 'bookworm',
        TAILOR_IMAGE_CACHE_DIR: TEST_CACHE_DIR,
        ...overrides,
      }));
    }

    /** Every version and every unfinished upload in the store: what a refused run must not have left. */
    async function storeContents(): Promise<string[]> {
      const versions = await admin.send(new ListObjectVersionsCommand({ Bucket: STORE }));
      const uploads = await admin.send(new ListMultipartUploadsCommand({ Bucket: STORE }));
      return [
        ...(versions.Versions ?? []).map((v) => v.Key!),
        ...(versions.DeleteMarkers ?? []).map((m) => `delete marker ${m.Key}`),
        ...(uploads.Uploads ?? []).map((u) => `upload ${u.Key}`),
      ].sort();
    }

    test('the roles hold the S3 statements a publish and a cleanup need, and RGW answers a missing key with 403 under them', async () => {
      const { webapp, devEnv, cleanup } = rehearsal.policies;
      expect(webapp.map(describeStatement)).toEqual(devEnv.map(describeStatement));
      expect(webapp.length).toBeGreaterThanOrEqual(8);
      expect(webapp.some((s) => s.Resource.some((r) => r.startsWith(`arn:aws:s3:::${APT}/${APT_PREFIX}/hotdog/ubuntu/`)))).toBe(true);
      expect(cleanup.some((s) => s.Action.includes('s3:DeleteObjectVersion'))).toBe(true);
      expect(cleanup.some((s) => s.Resource.some((r) => r.startsWith(`arn:aws:s3:::${APT}`)))).toBe(false);
      // As on AWS: ListBucket conditioned on s3:prefix does not apply to a HEAD, so a missing key is "refused".
      const user = await rgw.limitedUser('probe', policyDocument(webapp));
      const client = user.client();
      try {
        await expect(client.send(new HeadObjectCommand({ Bucket: STORE, Key: 'hotdog/images/not-there.tar.gz' })))
          .rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
      } finally {
        client.destroy();
      }
    }, 60000);

    test('a release label the role was not granted is refused at the start of the build, in one line', async () => {
      const result = await runAs('build-webapp', rehearsal.policies.webapp, rehearsal.webapp, { RELEASE_LABEL: 'experimental' });
      expect(result.code).toBe(2);
      expect(result.output).toContain('build-image: RELEASE_LABEL experimental is not one this project may publish under (hotdog)');
      expect(result.output).not.toContain('create_image');
    }, 300000);

    test('without any one of its S3 statements, the lxd build fails at verify with one line naming the refused call', async () => {
      const statements = rehearsal.policies.webapp;
      const outcomes: string[] = [];
      for (const [i, statement] of statements.entries()) {
        const result = await runAs('build-webapp', statements.filter((_, j) => j !== i), rehearsal.webapp, { TIMESTAMP: LXD_TIMESTAMP });
        const line = errorLine(result.output, 'create_image');
        const atVerify = !result.output.includes('bootstrap: started');
        const named = line !== undefined && REFUSED_CALL.test(line) && line.split('\n').length === 1;
        outcomes.push(`${describeStatement(statement)} => ${result.code !== 0 && atVerify && named ? 'refused at verify' : `NOT: code ${result.code}, ${line ?? failure(result)}`}`);
      }
      expect(outcomes.filter((o) => !o.endsWith('=> refused at verify'))).toEqual([]);
      // Nothing was written, not even the probes' uploads.
      expect(await storeContents()).toEqual(['nightly/images/index']);
    }, 20 * 60 * 1000);

    test('as granted, the lxd build publishes its image, installing the bundle from the s3:// org repository', async () => {
      const result = await runAs('build-webapp', rehearsal.policies.webapp, rehearsal.webapp, { TIMESTAMP: LXD_TIMESTAMP });
      if (result.code !== 0) throw new Error(failure(result));
      const image = `acme_webapp_bookworm_hotdog_${LXD_TIMESTAMP}`;
      const index = await readIndex(admin, STORE, 'hotdog');
      expect(index?.[LXD_TIMESTAMP]?.raw?.webapp?.bookworm).toEqual(expect.objectContaining({ file: image }));
      expect(await problemsWithIndex(admin, STORE, 'hotdog', index!)).toEqual([]);
      // The bundle came from the S3 repository (through the proxy, InRelease answered 404).
      const work = mkdtempSync(join(tmpdir(), 'rehearsal-lxd-'));
      dirs.push(work);
      const tarball = join(work, `${image}.tar.gz`);
      writeFileSync(tarball, await objectBytes(admin, STORE, `hotdog/images/${image}.tar.gz`));
      const listing = execFileSync('tar', ['-tzf', tarball], { maxBuffer: 64 << 20 }).toString().split('\n');
      expect(listing).toContain('rootfs/opt/acme/bundle-webapp');
      // The simplestreams view was written too (no warning about it).
      expect(result.output).not.toMatch(/warning: simplestreams/);
      const streams = JSON.parse((await objectBytes(admin, STORE, 'streams/v1/index.json')).toString());
      expect(Object.keys(streams.index ?? {})).not.toHaveLength(0);
    }, 30 * 60 * 1000);

    test('as granted, the docker build publishes its image and pushes it to the registry', async () => {
      const result = await runAs('build-dev-env', rehearsal.policies.devEnv, rehearsal.devEnv, { TIMESTAMP: DOCKER_TIMESTAMP });
      if (result.code !== 0) throw new Error(failure(result));
      const index = await readIndex(admin, STORE, 'hotdog');
      expect(index?.[DOCKER_TIMESTAMP]?.docker?.['dev-env']?.bookworm).toEqual(
        expect.objectContaining({ file: `acme_dev-env_bookworm_hotdog_${DOCKER_TIMESTAMP}` }));
      expect(await problemsWithIndex(admin, STORE, 'hotdog', index!)).toEqual([]);
      const tags = (await (await fetch(`${registry.url}/v2/acme/tags/list`)).json()) as { tags: string[] };
      expect(tags.tags).toContain('tailor-image-dev-env-bookworm-hotdog');
    }, 30 * 60 * 1000);

    test('the cleanup: without any one of its statements it fails before removing anything; as granted it applies the policy', async () => {
      const work = mkdtempSync(join(tmpdir(), 'rehearsal-seed-'));
      dirs.push(work);
      const seeder = new S3ImageStore({ bucket: STORE, client: admin });
      const stamps = ['20260101.000000', '20260102.000000', '20260103.000000'];
      for (const timestamp of stamps) {
        await seeder.put(await syntheticImage({ dir: work, name: 'robot', distribution: 'jammy', releaseLabel: 'hotdog', timestamp, size: 1024 }), silentLog);
      }
      // A release whose first publish has not written its index yet: reading it needs the
      // listing that tells its missing index from a refused one.
      await admin.send(new PutObjectCommand({ Bucket: STORE, Key: 'draft/images/acme_robot_jammy_draft_20260101.000000.tar.gz', Body: 'x' }));
      const before = await storeContents();
      const statements = rehearsal.policies.cleanup;
      const outcomes: string[] = [];
      for (const [i, statement] of statements.entries()) {
        const result = await runAs('cleanup', statements.filter((_, j) => j !== i), rehearsal.cleanup, { NUM_TO_KEEP: '1' });
        const line = errorLine(result.output, 'cleanup_images');
        const named = line !== undefined && REFUSED_CALL.test(line);
        outcomes.push(`${describeStatement(statement)} => ${result.code !== 0 && named ? 'refused' : `NOT: code ${result.code}, ${line ?? failure(result)}`}`);
      }
      expect(outcomes.filter((o) => !o.endsWith('=> refused'))).toEqual([]);
      expect(await storeContents()).toEqual(before);

      const result = await runAs('cleanup', statements, rehearsal.cleanup, { NUM_TO_KEEP: '1' });
      if (result.code !== 0) throw new Error(failure(result));
      expect(result.output).toContain('2 of 5 image(s) removed');
      const index = await readIndex(admin, STORE, 'hotdog');
      expect(Object.keys(index ?? {}).filter((t) => index![t].raw?.robot)).toEqual(['20260103.000000']);
      expect(index?.[LXD_TIMESTAMP]?.raw?.webapp?.bookworm).toBeDefined();
    }, 10 * 60 * 1000);
  },
);
