import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import {
  ARM64_BUILD_IMAGE_NAME, BuilderAsset, ImageBuildProject, ImageStore, RecipeSource, hostPackagesFor,
} from '../../lib/constructs';
import { factoryStack, stateMachineDefinition, writeCatalog } from './constructs-helpers';

type Resources = Record<string, { Type: string; Properties: Record<string, any> }>;

// The recipes of the amd64 baseline (test/fixtures/amd64-factory-template.json, synthesized
// from the factory before architectures existed), here also allowing arm64, plus an
// arm64-only docker recipe.
const baselineRecipes = [
  { name: 'webapp', build_type: 'lxd' as const, os_versions: ['jammy', 'bookworm'] },
  { name: 'wrangler', build_type: 'bare_metal' as const, os_versions: ['noble'] },
];
const amd64Only = writeCatalog(baselineRecipes);
const both = writeCatalog([
  ...baselineRecipes.map((recipe) => ({ ...recipe, architectures: ['amd64', 'arm64'] as Array<'amd64' | 'arm64'> })),
  { name: 'dev-env', build_type: 'docker', os_versions: ['bookworm'], architectures: ['arm64'] },
]);

const envOf = (project: { Properties: Record<string, any> }): Record<string, unknown> =>
  Object.fromEntries((project.Properties.Environment.EnvironmentVariables as Array<{ Name: string; Value: unknown }>).map((v) => [v.Name, v.Value]));

/** The template with the builder asset's hash (it follows every change of the builder's code) blanked. */
const normalized = (resources: Resources): Resources => JSON.parse(JSON.stringify(resources).replace(/[0-9a-f]{64}/g, '<asset-hash>'));

/**
 * The lines build-image.yml gained for architectures: --arch, a no-op without ARCHITECTURE, and
 * the pipeline's shared timestamp, a no-op without RUN_STARTED (only the pipeline sets it).
 */
const ARCH_LINES = [
  '[ -z "${ARCHITECTURE:-}" ] || args+=(--arch "$ARCHITECTURE")\n',
  '# A pipeline run gives every build its start time, so all its builds share one timestamp.\n' +
    'if [ -z "${TIMESTAMP:-}" ] && [ -n "${RUN_STARTED:-}" ]; then TIMESTAMP=$(date -u -d "$RUN_STARTED" +%Y%m%d.%H%M%S); fi\n',
];
const withoutArchLine = (buildSpec: string): string => {
  const spec = JSON.parse(buildSpec);
  spec.phases.build.commands = spec.phases.build.commands.map((command: string) => ARCH_LINES.reduce((text, line) => text.replace(line, ''), command));
  return JSON.stringify(spec, null, 2);
};

describe('arm64 build projects', () => {
  const { factory, resources, idOf } = factoryStack({ recipes: RecipeSource.directory(both) });
  const project = (key: string) => resources[idOf(factory.projects[key].project)];

  test('one project per recipe and architecture the recipe allows, arm64 ones named by <recipe>-arm64', () => {
    expect(Object.keys(factory.projects).sort()).toEqual(['dev-env-arm64', 'webapp', 'webapp-arm64', 'wrangler', 'wrangler-arm64']);
    expect(project('webapp-arm64').Properties.Name).toBe('Factory-webapp-arm64');
    expect(project('webapp').Properties.Name).toBe('Factory-webapp');
    expect(factory.projects['webapp-arm64'].architecture).toBe('arm64');
    expect(factory.projects.webapp.architecture).toBe('amd64');
    // Both carry the recipe's tag (trigger finds the arm64 one by its name and ARCHITECTURE).
    expect(project('webapp-arm64').Properties.Tags).toEqual(expect.arrayContaining([{ Key: 'tailor-image:image', Value: 'webapp' }]));
  });

  test('arm64 projects run natively on ARM compute: ARM_CONTAINER, the aarch64 Debian image with Node 22, LARGE', () => {
    for (const key of ['webapp-arm64', 'wrangler-arm64', 'dev-env-arm64']) {
      const environment = project(key).Properties.Environment;
      expect(environment.Type).toBe('ARM_CONTAINER');
      expect(environment.Image).toBe(ARM64_BUILD_IMAGE_NAME);
      expect(environment.Image).toBe('public.ecr.aws/docker/library/node:22-bookworm');
      expect(environment.ComputeType).toBe('BUILD_GENERAL1_LARGE');
      expect(environment.PrivilegedMode).toBe(true);
      // A public image: pulled by the service role, no registry credential.
      expect(environment.ImagePullCredentialsType).toBe('SERVICE_ROLE');
      expect(environment.RegistryCredential).toBeUndefined();
    }
    for (const key of ['webapp', 'wrangler']) {
      expect(project(key).Properties.Environment).toEqual(expect.objectContaining({ Type: 'LINUX_CONTAINER', Image: 'aws/codebuild/standard:8.0' }));
    }
  });

  test('ARCHITECTURE=arm64 on arm64 projects only; each architecture its own cache place', () => {
    expect(envOf(project('webapp-arm64')).ARCHITECTURE).toBe('arm64');
    expect(envOf(project('webapp'))).not.toHaveProperty('ARCHITECTURE');
    const bucket = { Ref: idOf(factory.cacheBucket) };
    expect(envOf(project('webapp-arm64')).CACHE_LOCATION).toEqual({ 'Fn::Join': ['', [bucket, '/webapp-arm64']] });
    expect(project('webapp-arm64').Properties.Cache).toEqual({ Type: 'S3', Location: { 'Fn::Join': ['', [bucket, '/webapp-arm64/jammy']] } });
    expect(factory.projects['webapp-arm64'].cacheLocation!('bookworm')).toMatch(/\/webapp-arm64\/bookworm$/);
  });

  test('the test gate\'s host packages follow the architecture: qemu-system-aarch64 and AAVMF for arm64 disks', () => {
    const packages = (key: string) => String(envOf(project(key)).HOST_PACKAGES).split(' ');
    expect(packages('wrangler-arm64')).toEqual(expect.arrayContaining(['qemu-system-arm', 'qemu-efi-aarch64', 'fdisk', 'mmdebstrap']));
    expect(packages('wrangler-arm64')).not.toEqual(expect.arrayContaining(['qemu-system-x86']));
    expect(packages('wrangler-arm64')).not.toContain('ovmf');
    expect(packages('wrangler')).toEqual(expect.arrayContaining(['qemu-system-x86', 'ovmf']));
    expect(hostPackagesFor('ami', 'arm64')).toEqual(expect.arrayContaining(['qemu-system-arm', 'qemu-efi-aarch64']));
    expect(hostPackagesFor('docker', 'arm64')).toEqual(hostPackagesFor('docker', 'amd64'));
  });

  test('the arm64 buildspec is build-image.yml without runtime-versions (a custom image has none)', () => {
    const arm = JSON.parse(project('webapp-arm64').Properties.Source.BuildSpec);
    const amd = JSON.parse(project('webapp').Properties.Source.BuildSpec);
    expect(amd.phases.install['runtime-versions']).toEqual({ nodejs: 22 });
    expect(arm.phases.install['runtime-versions']).toBeUndefined();
    delete amd.phases.install['runtime-versions'];
    expect(arm).toEqual(amd);
  });

  test('the buildspec passes the project\'s ARCHITECTURE to create_image as --arch (run with a recording create_image.js)', () => {
    const argvOf = (key: string, extra: Record<string, string> = {}): string[] => {
      const dir = mkdtempSync(join(tmpdir(), 'buildspec-arch-'));
      // Stands in for the bundled builder: prints the arguments it was given.
      writeFileSync(join(dir, 'create_image.js'), 'process.stdout.write(JSON.stringify(process.argv.slice(2)));\n');
      const env: Record<string, string> = {};
      for (const [name, value] of Object.entries(envOf(project(key)))) env[name] = typeof value === 'string' ? value : `resolved-${name.toLowerCase()}`;
      const [command] = JSON.parse(project(key).Properties.Source.BuildSpec).phases.build.commands as string[];
      const run = spawnSync('bash', ['-c', command], {
        cwd: dir, encoding: 'utf8',
        env: { PATH: process.env.PATH, ...env, TAILOR_IMAGE_CACHE_DIR: join(dir, 'cache'), ...extra },
      });
      expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: expect.not.stringContaining('build-image:') });
      return JSON.parse(readFileSync(join(dir, 'build-summary.json'), 'utf8'));
    };
    const arm = argvOf('webapp-arm64');
    expect(arm.slice(arm.indexOf('--arch'), arm.indexOf('--arch') + 2)).toEqual(['--arch', 'arm64']);
    expect(arm.slice(0, 4)).toEqual(['--name', 'webapp', '--distribution', 'jammy']);
    const amd = argvOf('webapp');
    expect(amd).not.toContain('--arch');
    // Otherwise the same command line.
    expect(arm.filter((arg) => arg !== '--arch' && arg !== 'arm64')).toEqual(amd);
    expect(amd).not.toContain('--timestamp');
    // A pipeline execution's start (RUN_STARTED) is every build's timestamp; TIMESTAMP still wins.
    const timestampOf = (argv: string[]) => argv[argv.indexOf('--timestamp') + 1];
    expect(timestampOf(argvOf('webapp', { RUN_STARTED: '2026-12-02T05:30:07.123Z' }))).toBe('20261202.053007');
    expect(timestampOf(argvOf('webapp-arm64', { RUN_STARTED: '2026-12-02T05:30:07.123Z' }))).toBe('20261202.053007');
    expect(timestampOf(argvOf('webapp', { RUN_STARTED: '2026-12-02T05:30:07.123Z', TIMESTAMP: '20261201.000000' }))).toBe('20261201.000000');
  });

  test('an arm64 project\'s role has the amd64 project\'s grants, on its own cache prefix', () => {
    const policyOf = (key: string) => {
      const roleId = idOf(factory.projects[key].project.role as never);
      return Object.values(resources)
        .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((ref: { Ref: string }) => ref.Ref === roleId))
        .flatMap((r) => r.Properties.PolicyDocument.Statement);
    };
    const own = (key: string) => {
      const made = factory.projects[key];
      return [idOf(made.project), idOf(made.encryptionKey), idOf(made.logGroup)];
    };
    let arm = JSON.stringify(policyOf('wrangler-arm64'));
    const [armProject, armKey, armLogs] = own('wrangler-arm64');
    const [amdProject, amdKey, amdLogs] = own('wrangler');
    arm = arm.split(armProject).join(amdProject).split(armKey).join(amdKey).split(armLogs).join(amdLogs)
      .split('Factory-wrangler-arm64').join('Factory-wrangler').split('/wrangler-arm64/').join('/wrangler/');
    expect(JSON.parse(arm)).toEqual(policyOf('wrangler'));
    expect(JSON.stringify(policyOf('wrangler-arm64'))).toContain('/wrangler-arm64/*');
  });

  test('the pipeline has one branch per recipe x distribution x architecture, each starting the project of its architecture', () => {
    const machine = resources[idOf(factory.pipeline.stateMachine)];
    const definition = stateMachineDefinition(machine.Properties.DefinitionString);
    const plan = definition.States[definition.StartAt].Result as Array<Record<string, any>>;
    expect(plan.map((b) => `${b.name}/${b.distribution}/${b.architecture}`).sort()).toEqual([
      'dev-env/bookworm/arm64',
      'webapp/bookworm/amd64', 'webapp/bookworm/arm64', 'webapp/jammy/amd64', 'webapp/jammy/arm64',
      'wrangler/noble/amd64', 'wrangler/noble/arm64',
    ]);
    for (const item of plan) {
      const key = item.architecture === 'amd64' ? item.name : `${item.name}-${item.architecture}`;
      expect(item.project).toBe(`<Ref:${idOf(factory.projects[key].project)}>`);
      expect(item.cache.Location).toBe(`<Ref:${idOf(factory.cacheBucket)}>/${key}/${item.distribution}`);
    }
    expect(new Set(plan.map((i) => i.cache.Location)).size).toBe(plan.length);
    expect(factory.pipeline.builds).toHaveLength(7);
    // Results and failures say the architecture.
    const processor = definition.States.BuildAll.ItemProcessor;
    expect(processor.States.Built.Parameters['architecture.$']).toBe('$.architecture');
    expect(processor.States.BuildFailed.Parameters['architecture.$']).toBe('$.architecture');
    // The state machine may start (and only start) these five projects.
    const policy = Object.values(resources).find((r) => r.Type === 'AWS::IAM::Policy'
      && r.Properties.Roles.some((ref: { Ref: string }) => ref.Ref === idOf(factory.pipeline.stateMachine.role as never)))!;
    const started = (policy.Properties.PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>)
      .filter((s) => [s.Action].flat().includes('codebuild:StartBuild'))
      .flatMap((s) => [s.Resource].flat().map((r) => JSON.stringify(r)));
    const projectArns = [...Object.values(factory.projects).map((p) => p.project), factory.cleanup.project]
      .map((p) => JSON.stringify({ 'Fn::GetAtt': [idOf(p), 'Arn'] }));
    expect([...new Set(started)].sort()).toEqual(projectArns.sort());
  });
});

describe('amd64 projects as they were', () => {
  test('an amd64-only factory synthesizes what it did before architectures (only build-image.yml\'s no-op --arch line is new)', () => {
    const { resources } = factoryStack({ recipes: RecipeSource.directory(amd64Only) });
    const fixture = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'amd64-factory-template.json'), 'utf8')).Resources as Resources;
    const now = normalized(resources);
    expect(Object.keys(now).sort()).toEqual(Object.keys(fixture).sort());
    for (const [id, resource] of Object.entries(now)) {
      const before = fixture[id];
      if (resource.Type === 'AWS::StepFunctions::StateMachine') {
        // The plan items and results gained their architecture; the machine is updated in place.
        expect(Object.keys(resource.Properties).sort()).toEqual(Object.keys(before.Properties).sort());
        continue;
      }
      if (resource.Type === 'AWS::CodeBuild::Project' && resource.Properties.Source.BuildSpec.includes('create_image.js')) {
        expect(resource.Properties.Source.BuildSpec).toContain('--arch');
        expect(withoutArchLine(resource.Properties.Source.BuildSpec)).toBe(before.Properties.Source.BuildSpec);
        const { Source: _now, ...rest } = resource.Properties;
        const { Source: _before, ...restBefore } = before.Properties;
        expect(rest).toEqual(restBefore);
        continue;
      }
      expect([id, resource]).toEqual([id, before]);
    }
  });

  test('allowing arm64 leaves a recipe\'s amd64 project, role and key as they are', () => {
    const one = factoryStack({ recipes: RecipeSource.directory(amd64Only) });
    const two = factoryStack({ recipes: RecipeSource.directory(both) });
    const amd64Resources = (resources: Resources) => Object.fromEntries(Object.entries(normalized(resources))
      .filter(([id]) => /^FactoryBuild(webapp|wrangler)(?!arm64)/.test(id)));
    const before = amd64Resources(one.resources);
    expect(Object.keys(before).length).toBe(10);
    expect(amd64Resources(two.resources)).toEqual(before);
  });

  test('architectures: [amd64] builds no arm64 project; arm64ComputeType and arm64BuildImage are used', () => {
    const only = factoryStack({ recipes: RecipeSource.directory(both), architectures: ['amd64'] });
    expect(Object.keys(only.factory.projects).sort()).toEqual(['webapp', 'wrangler']);
    const image = codebuild.LinuxArmBuildImage.fromCodeBuildImageId('aws/codebuild/amazonlinux-aarch64-standard:3.0');
    const tuned = factoryStack({ recipes: RecipeSource.directory(both), arm64ComputeType: codebuild.ComputeType.SMALL, arm64BuildImage: image });
    const environment = tuned.resources[tuned.idOf(tuned.factory.projects['webapp-arm64'].project)].Properties.Environment;
    expect(environment).toEqual(expect.objectContaining({
      Type: 'ARM_CONTAINER', Image: 'aws/codebuild/amazonlinux-aarch64-standard:3.0', ComputeType: 'BUILD_GENERAL1_SMALL',
    }));
    expect(() => factoryStack({ recipes: RecipeSource.directory(amd64Only), architectures: ['arm64'] }))
      .toThrow('no recipe allows any of the selected distributions and architectures');
  });

  test('a lone ImageBuildProject refuses an architecture its recipe does not allow', () => {
    process.env.CDK_VALIDATION = 'false';
    const stack = new Stack(new App(), 'Lone');
    const recipes = RecipeSource.directory(amd64Only);
    const props = {
      recipe: recipes.summaries()[0],
      store: new ImageStore(stack, 'Store'),
      builder: new BuilderAsset(stack, 'Builder', { recipes }),
      recipes,
      organization: 'acme',
      releaseLabel: 'hotdog',
    };
    expect(() => new ImageBuildProject(stack, 'Arm', { ...props, architecture: 'arm64' }))
      .toThrow('recipe webapp is not built for arm64 (its architectures: amd64)');
    expect(new ImageBuildProject(stack, 'Amd', props).architecture).toBe('amd64');
  });
});
