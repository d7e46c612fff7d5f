import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ImageFactory, ImageStore, RecipeSource } from '../../lib/constructs';
import { describeWith, rootUser, tool } from '../support/prereq';
import { RgwServer, rgwPrerequisites, startRgw } from '../support/rgw';
import { headOrUndefined, objectBytes, problemsWithIndex, readIndex } from '../support/s3-inspect';
import { syntheticImage } from '../support/synthetic-image';
import { silentLog } from '../../lib/core/log';
import { S3ImageStore } from '../../lib/storage/s3/s3-store';
import { createHash } from 'node:crypto';

/**
 * The synthesized buildspecs really run: the webapp and cleanup projects' buildspecs are taken
 * from the synthesized template and its phases' commands run here, in the unpacked builder asset,
 * with the environment the project gives CodeBuild (tokens resolved to this test's
 * bucket) and S3 pointed at a local Ceph RGW. A real LXD image is built from the Debian
 * mirror and published (the artifact and the index must land in the bucket), and the
 * cleanup applies its retention policy to seeded images.
 */

const BUCKET = 'factory-images';
const TIMESTAMP = '20261126.101500';

interface Synthesized {
  buildSpec: { phases: Record<string, { commands?: string[] }> };
  env: Record<string, string>;
  assetDir: string;
}

/** The webapp build project and the cleanup project, as synthesized, with their variables resolved. */
function synthesize(): { build: Synthesized; cleanup: Synthesized } {
  process.env.CDK_VALIDATION = 'false';
  const app = new App({ outdir: mkdtempSync(join(tmpdir(), 'buildspec-cdkout-')) });
  const stack = new Stack(app, 'Factory', { env: { account: '123456789012', region: 'us-east-1' } });
  const factory = new ImageFactory(stack, 'Factory', { recipes: RecipeSource.bundled(), images: ['webapp'] });
  const assembly = app.synth();
  const template = assembly.getStackByName('Factory').template as { Resources: Record<string, { Properties: any }> };
  const refs: Record<string, string> = {
    [stack.getLogicalId(factory.store.bucket.node.defaultChild as never)]: BUCKET,
    // No CloudFront here: an empty id means no invalidation.
    [stack.getLogicalId((factory.store as ImageStore).distribution.node.defaultChild as never)]: '',
  };
  const asset = factory.node.findChild('Builder').node.findChild('Bundle') as unknown as { assetPath: string };
  const read = (construct: { node: { defaultChild?: unknown } }): Synthesized => {
    const project = template.Resources[stack.getLogicalId(construct.node.defaultChild as never)].Properties;
    const env: Record<string, string> = {};
    for (const variable of project.Environment.EnvironmentVariables as Array<{ Name: string; Value: unknown }>) {
      env[variable.Name] = resolve(variable.Value, refs);
    }
    return { buildSpec: JSON.parse(project.Source.BuildSpec), env, assetDir: join(app.outdir, asset.assetPath) };
  };
  return { build: read(factory.projects.webapp.project), cleanup: read(factory.cleanup.project) };
}

/** The environment CodeBuild gives a build: the project's variables, its own, S3 at RGW. */
function codebuildEnv(project: Synthesized, src: string, rgw: RgwServer, overrides: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME ?? '/root',
    ...project.env,
    ...overrides,
    CODEBUILD_SRC_DIR: src,
    CODEBUILD_BUILD_ID: 'tailor-image-local:test',
    CODEBUILD_INITIATOR: 'buildspec-publish-test',
    ...rgw.env,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

/** CodeBuild unzips the asset into CODEBUILD_SRC_DIR; the staged folder is the same tree. */
function unpack(project: Synthesized): string {
  const src = mkdtempSync(join(tmpdir(), 'codebuild-src-'));
  cpSync(project.assetDir, src, { recursive: true });
  return src;
}

function failure(result: { code: number; output: string }): string {
  const lines = result.output.split('\n').filter((l) => !/Reading database|^N: /.test(l));
  return `the buildspec failed (${result.code}):\n${lines.slice(-30).join('\n')}`;
}

/** Resolves the few CloudFormation forms the project's variables use. */
function resolve(value: unknown, refs: Record<string, string>): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, any>;
  if (v.Ref !== undefined) {
    if (!(v.Ref in refs)) throw new Error(`unresolved Ref ${v.Ref}`);
    return refs[v.Ref];
  }
  if (v['Fn::Join']) return (v['Fn::Join'][1] as unknown[]).map((p) => resolve(p, refs)).join(v['Fn::Join'][0]);
  if (v['Fn::GetAtt']) return `https://${v['Fn::GetAtt'][0]}.cloudfront.example`;
  throw new Error(`cannot resolve ${JSON.stringify(value)}`);
}

/** Runs the phases' commands as CodeBuild does (one bash, in order, stopping at the first failure). */
function runPhases(spec: Synthesized['buildSpec'], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  const script = ['set -e'];
  for (const phase of ['install', 'pre_build', 'build', 'post_build']) {
    for (const command of spec.phases[phase]?.commands ?? []) script.push(command);
  }
  const file = join(cwd, '.codebuild-phases.sh');
  writeFileSync(file, `${script.join('\n')}\n`);
  return new Promise((done, reject) => {
    const child = spawn('bash', [file], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c) => (output = (output + c).slice(-20000)));
    child.stderr.on('data', (c) => (output = (output + c).slice(-20000)));
    child.on('error', reject);
    child.on('close', (code) => done({ code: code ?? 1, output }));
  });
}

describeWith(
  'the synthesized buildspecs, run locally against RGW',
  [...rgwPrerequisites, rootUser(), tool('mmdebstrap'), tool('bash')],
  () => {
    let rgw: RgwServer;
    let s3: S3Client;
    let synthesized: { build: Synthesized; cleanup: Synthesized };
    const dirs: string[] = [];

    beforeAll(async () => {
      rgw = await startRgw();
      s3 = rgw.client();
      await rgw.createBucket(BUCKET, { versioning: true });
      synthesized = synthesize();
    }, 120000);

    afterAll(async () => {
      s3?.destroy();
      await rgw?.stop();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }, 60000);

    test('cleanup-images.yml applies the project\'s retention policy to the release', async () => {
      const { cleanup } = synthesized;
      expect(cleanup.env.IMAGE_BUCKET).toBe(BUCKET);
      const work = mkdtempSync(join(tmpdir(), 'cleanup-seed-'));
      dirs.push(work);
      const store = new S3ImageStore({ bucket: BUCKET, client: s3 });
      const stamps = ['20260101.000000', '20260102.000000', '20260103.000000'];
      for (const timestamp of stamps) {
        await store.put(await syntheticImage({ dir: work, name: 'robot', distribution: 'jammy', releaseLabel: 'hotdog', timestamp, size: 1024 }), silentLog);
      }
      const src = unpack(cleanup);
      dirs.push(src);
      // NUM_TO_KEEP is the project's (10); keep 1 for this run, as `trigger --set` would.
      const result = await runPhases(cleanup.buildSpec, src, codebuildEnv(cleanup, src, rgw, { NUM_TO_KEEP: '1' }));
      if (result.code !== 0) throw new Error(failure(result));
      expect(result.output).toContain('2 of 3 image(s) removed');
      const index = await readIndex(s3, BUCKET, 'hotdog');
      expect(Object.keys(index ?? {}).filter((t) => index![t].raw?.robot)).toEqual(['20260103.000000']);
      expect(await headOrUndefined(s3, BUCKET, `hotdog/images/acme_robot_jammy_hotdog_${stamps[0]}.tar.gz`)).toBeUndefined();
      expect(await headOrUndefined(s3, BUCKET, `hotdog/images/acme_robot_jammy_hotdog_${stamps[2]}.tar.gz`)).toBeDefined();
    }, 120000);

    test('build-image.yml builds webapp for bookworm and publishes the image and its index entry', async () => {
      const { build } = synthesized;
      expect(build.env.IMAGE_BUCKET).toBe(BUCKET);
      const src = unpack(build);
      dirs.push(src);
      const result = await runPhases(build.buildSpec, src, codebuildEnv(build, src, rgw, { DISTRIBUTION: 'bookworm', TIMESTAMP }));
      if (result.code !== 0) throw new Error(failure(result));

      const image = `acme_webapp_bookworm_hotdog_${TIMESTAMP}`;
      const key = `hotdog/images/${image}.tar.gz`;
      const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
      expect(head.ContentLength).toBeGreaterThan(10 << 20);
      const md5 = createHash('md5').update(await objectBytes(s3, BUCKET, key)).digest('hex');
      expect(head.Metadata?.md5).toBe(md5);

      const index = await readIndex(s3, BUCKET, 'hotdog');
      expect(index?.[TIMESTAMP]?.raw?.webapp?.bookworm).toEqual(expect.objectContaining({ file: image, checksum: md5 }));
      expect(await problemsWithIndex(s3, BUCKET, 'hotdog', index!)).toEqual([]);
      // The summary the buildspec prints names the published image.
      expect(result.output).toContain(image);
    }, 30 * 60 * 1000);
  },
);
