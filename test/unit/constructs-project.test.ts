import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Duration, Errors } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { parse } from 'yaml';
import { BuildSecret, ImageStore, RecipeSource } from '../../lib/constructs';
import { factoryStack, standardCatalog, writeCatalog, writeRosdistro } from './constructs-helpers';

const catalog = standardCatalog();

function envOf(project: { Properties: Record<string, any> }): Record<string, { Type: string; Value: unknown }> {
  return Object.fromEntries(
    (project.Properties.Environment.EnvironmentVariables as Array<{ Name: string; Type: string; Value: unknown }>)
      .map((v) => [v.Name, { Type: v.Type, Value: v.Value }]),
  );
}

function policyOf(resources: Record<string, { Type: string; Properties: Record<string, any> }>, roleId: string) {
  const policy = Object.values(resources).find((r) =>
    r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((role: { Ref: string }) => role.Ref === roleId));
  return policy!.Properties.PolicyDocument.Statement as Array<Record<string, any>>;
}

describe('ImageBuildProject (one per recipe)', () => {
  const { app, factory, resources, idOf } = factoryStack({ recipes: RecipeSource.directory(catalog) });
  const projects = Object.values(resources).filter((r) => r.Type === 'AWS::CodeBuild::Project');
  const project = (name: string) => resources[idOf(factory.projects[name].project)];

  test('one privileged project per recipe, plus the cleanup project', () => {
    expect(Object.keys(factory.projects).sort()).toEqual(['dev-env', 'webapp', 'wrangler']);
    expect(projects).toHaveLength(4);
    for (const name of ['dev-env', 'webapp', 'wrangler']) {
      const p = project(name).Properties;
      // Named after the factory (the stack's name by default), so two factories can share an account.
      expect(p.Name).toBe(`Factory-${name}`);
      expect(p.Environment.PrivilegedMode).toBe(true);
      expect(p.Environment.Image).toBe('aws/codebuild/standard:8.0');
    }
    expect(resources[idOf(factory.cleanup.project)].Properties.Environment.PrivilegedMode).toBe(false);
  });

  test('compute by build type: bare metal gets more', () => {
    expect(project('wrangler').Properties.Environment.ComputeType).toBe('BUILD_GENERAL1_LARGE');
    expect(project('webapp').Properties.Environment.ComputeType).toBe('BUILD_GENERAL1_MEDIUM');
    expect(project('dev-env').Properties.Environment.ComputeType).toBe('BUILD_GENERAL1_MEDIUM');
  });

  test('every create_image flag is an environment variable (each overridable per build)', () => {
    const env = envOf(project('webapp'));
    expect(env.IMAGE_NAME.Value).toBe('webapp');
    expect(env.DISTRIBUTION.Value).toBe('jammy');
    expect(env.DISTRIBUTIONS.Value).toBe('jammy noble bookworm');
    expect(env.ORGANIZATION.Value).toBe('acme');
    expect(env.RELEASE_LABEL.Value).toBe('hotdog');
    expect(env.RELEASE_TRACK.Value).toBe('hotdog');
    expect(env.IMAGE_BUCKET.Value).toEqual({ Ref: idOf(factory.store.bucket) });
    expect(env.CLOUDFRONT_DISTRIBUTION_ID.Value).toEqual({ Ref: idOf((factory.store as ImageStore).distribution) });
    expect(env.CATALOG_ARGS.Value).toBe('--recipes-path catalog');
    expect(env.HOST_PACKAGES.Value).toContain('mmdebstrap');
    expect(env.HOST_PACKAGES.Value).toContain('ansible'); // webapp's recipe runs a playbook
    expect(envOf(project('wrangler')).HOST_PACKAGES.Value).toContain('mtools');
    expect(envOf(project('wrangler')).HOST_PACKAGES.Value).not.toContain('ansible');
    for (const name of ['FLAVOUR', 'APT_REPO', 'DOCKER_REGISTRY', 'MIRROR', 'TIMESTAMP', 'TAILOR_IMAGE_CACHE_DIR']) {
      expect(env[name]).toBeDefined();
    }
    for (const variable of Object.values(env)) expect(variable.Type).toBe('PLAINTEXT');
  });

  test('runs buildspecs/build-image.yml from the builder asset', () => {
    const p = project('webapp').Properties;
    const expected = parse(readFileSync(join(__dirname, '..', '..', 'buildspecs', 'build-image.yml'), 'utf8'));
    expect(JSON.parse(p.Source.BuildSpec)).toEqual(expected);
    expect(p.Source.Type).toBe('S3');
    const asset = factory.projects.webapp.node.scope!.node.findChild('Builder').node.findChild('Bundle') as unknown as { s3ObjectKey: string; assetPath: string };
    expect(JSON.stringify(p.Source.Location)).toContain(`/${asset.s3ObjectKey}`);
    // The staged asset is the bundled builder plus the recipes.
    const staged = join(app.outdir, asset.assetPath);
    for (const file of ['create_image.js', 'cleanup_images.js', 'recipes/common.yaml', 'catalog/images/webapp.yaml', 'catalog/common.yaml']) {
      expect(existsSync(join(staged, file))).toBe(true);
    }
    expect(readFileSync(join(staged, 'create_image.js'), 'utf8')).toMatch(/create_image/);
  });

  test('a KMS key with rotation, a log group with retention, a timeout, an S3 cache per recipe', () => {
    const p = project('webapp').Properties;
    const keyId = p.EncryptionKey['Fn::GetAtt'][0];
    expect(resources[keyId].Type).toBe('AWS::KMS::Key');
    expect(resources[keyId].Properties.EnableKeyRotation).toBe(true);
    const logGroupId = p.LogsConfig.CloudWatchLogs.GroupName.Ref;
    expect(p.LogsConfig.CloudWatchLogs.Status).toBe('ENABLED');
    expect(resources[logGroupId].Properties.RetentionInDays).toBe(90);
    expect(p.TimeoutInMinutes).toBe(120);
    // The default distribution's place; each build names its own (see the pipeline and trigger).
    expect(p.Cache).toEqual({ Type: 'S3', Location: { 'Fn::Join': ['', [{ Ref: idOf(factory.cacheBucket) }, '/webapp/jammy']] } });
    expect(envOf(project('webapp')).CACHE_LOCATION.Value).toEqual({ 'Fn::Join': ['', [{ Ref: idOf(factory.cacheBucket) }, '/webapp']] });
  });

  test('IAM: its release prefix, invalidation of its distribution only, its cache prefix, nothing broad', () => {
    const roleId = idOf(factory.projects.webapp.project.role!);
    const statements = policyOf(resources, roleId);
    const text = JSON.stringify(statements);
    const bucketId = idOf(factory.store.bucket);
    const publish = statements.find((s) => JSON.stringify(s.Resource).includes(bucketId) && JSON.stringify(s.Action).includes('s3:PutObject'))!;
    expect(publish.Resource).toEqual({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/hotdog/images/*']] });
    expect(text).not.toMatch(/s3:Delete/);
    const invalidation = statements.find((s) => s.Action === 'cloudfront:CreateInvalidation')!;
    expect(invalidation.Resource).toEqual({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':cloudfront::123456789012:distribution/', { Ref: idOf((factory.store as ImageStore).distribution) }]],
    });
    const cache = statements.find((s) => JSON.stringify(s.Resource).includes(`${idOf(factory.cacheBucket)}`) && JSON.stringify(s.Action).includes('PutObject'))!;
    expect(cache.Resource['Fn::Join'][1][1]).toBe('/webapp/*');
    // No statement on every resource here (no ECR, no VPC).
    expect(statements.filter((s) => s.Resource === '*')).toEqual([]);
    expect(text).not.toContain('"s3:*"');
    expect(text).not.toContain('ecr:');
  });

  test('the docker recipe may push to the ECR repository the factory made (<factory>/<organization>)', () => {
    expect(factory.repository).toBeDefined();
    const repo = resources[idOf(factory.repository as never)];
    expect(repo.Properties.RepositoryName).toBe('factory/acme');
    expect(repo.Properties.ImageScanningConfiguration).toEqual({ ScanOnPush: true });
    const statements = policyOf(resources, idOf(factory.projects['dev-env'].project.role!));
    const push = statements.find((s) => JSON.stringify(s.Action).includes('ecr:PutImage'))!;
    expect(push.Resource).toEqual({ 'Fn::GetAtt': [idOf(factory.repository as never), 'Arn'] });
    const token = statements.find((s) => s.Action === 'ecr:GetAuthorizationToken')!;
    expect(token.Resource).toBe('*');
    // The builder pushes to <registry>/<organization>: the factory's name is the registry's path.
    const registry = JSON.stringify(envOf(project('dev-env')).DOCKER_REGISTRY.Value);
    expect(registry).toContain('.dkr.ecr.');
    expect(registry).toMatch(/\/factory"\]\]\}$/);
  });
});

describe('ImageBuildProject secrets and options', () => {
  test('each recipe gets the secrets it names, by their names, from Secrets Manager / SSM; only it may read them', () => {
    const withSecrets = writeCatalog([
      { name: 'robot', build_type: 'bare_metal', os_versions: ['noble'], passwordEnv: 'ROBOT_PASSWORD' },
      { name: 'kiosk', build_type: 'lxd', os_versions: ['noble'], passwordEnv: 'KIOSK_PASSWORD' },
      { name: 'plain', build_type: 'lxd', os_versions: ['noble'] },
    ]);
    const { resources, factory, idOf } = factoryStack((stack) => ({
      recipes: RecipeSource.directory(withSecrets),
      secrets: {
        ROBOT_PASSWORD: BuildSecret.fromSecretsManager(
          secretsmanager.Secret.fromSecretCompleteArn(stack, 'Pw', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:robot-pw-AbCdEf'),
          'hash',
        ),
        KIOSK_PASSWORD: BuildSecret.fromSsmParameter(
          ssm.StringParameter.fromSecureStringParameterAttributes(stack, 'KioskPw', { parameterName: '/acme/kiosk-password' }),
        ),
      },
      aptRepoKey: BuildSecret.fromSsmParameter(
        ssm.StringParameter.fromSecureStringParameterAttributes(stack, 'Key', { parameterName: '/acme/apt-repo-key' }),
      ),
    }));
    const env = (name: string) => envOf(resources[idOf(factory.projects[name].project)]);
    expect(env('robot').ROBOT_PASSWORD).toEqual({
      Type: 'SECRETS_MANAGER',
      Value: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:robot-pw-AbCdEf:hash',
    });
    expect(env('robot').KIOSK_PASSWORD).toBeUndefined();
    expect(env('kiosk').KIOSK_PASSWORD).toEqual({ Type: 'PARAMETER_STORE', Value: '/acme/kiosk-password' });
    expect(env('kiosk').ROBOT_PASSWORD).toBeUndefined();
    expect(Object.keys(env('plain')).filter((n) => n.endsWith('_PASSWORD'))).toEqual([]);
    expect(env('plain').APT_REPO_KEY).toEqual({ Type: 'PARAMETER_STORE', Value: '/acme/apt-repo-key' });
    const policy = (construct: { role?: unknown }) => JSON.stringify(policyOf(resources, idOf(construct.role as never)));
    expect(policy(factory.projects.robot.project)).toContain('secret:robot-pw-AbCdEf');
    expect(policy(factory.projects.robot.project)).not.toContain('kiosk-password');
    expect(policy(factory.projects.kiosk.project)).toContain(':parameter/acme/kiosk-password');
    expect(policy(factory.projects.kiosk.project)).not.toContain('secretsmanager:');
    expect(policy(factory.projects.plain.project)).not.toContain('_PASSWORD');
    // The cleanup project reads none.
    const cleanup = policy(factory.cleanup.project);
    expect(cleanup).not.toContain('secretsmanager:');
    expect(cleanup).not.toContain('ssm:');
  });

  test('the release signing key reaches every build and the cleanup as SIGNING_KEY from Secrets Manager, readable by them', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:release-key-AbCdEf';
    const { resources, factory, idOf } = factoryStack((stack) => ({
      images: ['webapp'],
      signingKey: BuildSecret.fromSecretsManager(secretsmanager.Secret.fromSecretCompleteArn(stack, 'SigningKey', arn)),
    }));
    expect(envOf(resources[idOf(factory.projects.webapp.project)]).SIGNING_KEY).toEqual({ Type: 'SECRETS_MANAGER', Value: arn });
    expect(envOf(resources[idOf(factory.cleanup.project)]).SIGNING_KEY).toEqual({ Type: 'SECRETS_MANAGER', Value: arn });
    const policy = (construct: { role?: unknown }) => JSON.stringify(policyOf(resources, idOf(construct.role as never)));
    expect(policy(factory.projects.webapp.project)).toContain('secret:release-key-AbCdEf');
    expect(policy(factory.cleanup.project)).toContain('secret:release-key-AbCdEf');
  });

  test('the bundled wrangler reads WRANGLER_PASSWORD: the factory passes exactly that variable', () => {
    const { resources, factory, idOf } = factoryStack((stack) => ({
      images: ['wrangler'],
      secrets: { WRANGLER_PASSWORD: BuildSecret.fromSsmParameter(
        ssm.StringParameter.fromSecureStringParameterAttributes(stack, 'Pw', { parameterName: '/acme/wrangler' })) },
    }));
    const env = envOf(resources[idOf(factory.projects.wrangler.project)]);
    expect(env.WRANGLER_PASSWORD).toEqual({ Type: 'PARAMETER_STORE', Value: '/acme/wrangler' });
    expect(env.USER_PASSWORD).toBeUndefined();
  });

  test('a recipe whose secret the factory was not given fails synth with one line naming the construct', () => {
    let error: unknown;
    try {
      factoryStack({ images: ['wrangler'] });
    } catch (e) {
      error = e;
    }
    expect(Errors.isValidationError(error)).toBe(true);
    expect((error as Error).message).toBe(
      'recipe wrangler reads a secret from WRANGLER_PASSWORD, which the factory was not given (secrets: { WRANGLER_PASSWORD: BuildSecret... })');
    expect((error as { constructPath: string }).constructPath).toBe('Factory/Factory/Build-wrangler');
  });

  test('compute per build type, timeout, VPC, a given registry instead of a new repository', () => {
    const { resources, factory, idOf } = factoryStack((stack) => ({
      recipes: RecipeSource.directory(catalog),
      computeType: { lxd: codebuild.ComputeType.LARGE, docker: codebuild.ComputeType.SMALL },
      buildTimeout: Duration.minutes(45),
      dockerRegistry: 'registry.example.com/acme',
      vpc: new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 }),
    }));
    const project = (name: string) => resources[idOf(factory.projects[name].project)].Properties;
    expect(project('webapp').Environment.ComputeType).toBe('BUILD_GENERAL1_LARGE');
    expect(project('dev-env').Environment.ComputeType).toBe('BUILD_GENERAL1_SMALL');
    expect(project('wrangler').Environment.ComputeType).toBe('BUILD_GENERAL1_LARGE');
    expect(project('webapp').TimeoutInMinutes).toBe(45);
    expect(project('webapp').VpcConfig.Subnets).toHaveLength(2);
    expect(project('webapp').VpcConfig.SecurityGroupIds).toHaveLength(1);
    expect(factory.repository).toBeUndefined();
    expect(Object.values(resources).filter((r) => r.Type === 'AWS::ECR::Repository')).toEqual([]);
    expect(envOf({ Properties: project('dev-env') }).DOCKER_REGISTRY.Value).toBe('registry.example.com/acme');
  });

  test('the catalog\'s docker_registry is used instead of a new repository', () => {
    const withRegistry = writeCatalog([{ name: 'dev-env', build_type: 'docker', os_versions: ['noble'] }],
      { docker_registry: 'registry.example.com/acme' });
    const { resources, factory, idOf } = factoryStack({ recipes: RecipeSource.directory(withRegistry) });
    expect(factory.repository).toBeUndefined();
    expect(envOf(resources[idOf(factory.projects['dev-env'].project)]).DOCKER_REGISTRY.Value).toBe('registry.example.com/acme');
  });

  test('a rosdistro catalog: its images, its common settings, shipped as rosdistro/ and selected by flag', () => {
    const { app, resources, factory, idOf } = factoryStack({ recipes: RecipeSource.rosdistro(writeRosdistro()) });
    expect(Object.keys(factory.projects).sort()).toEqual(['bot', 'sim']);
    const env = envOf(resources[idOf(factory.projects.bot.project)]);
    expect(env.ORGANIZATION.Value).toBe('locus');
    expect(env.DISTRIBUTIONS.Value).toBe('jammy noble');
    expect(env.CATALOG_ARGS.Value).toBe('--rosdistro-path rosdistro');
    expect(envOf(resources[idOf(factory.projects.sim.project)]).DISTRIBUTIONS.Value).toBe('jammy');
    const asset = factory.node.findChild('Builder').node.findChild('Bundle') as unknown as { assetPath: string };
    expect(existsSync(join(app.outdir, asset.assetPath, 'rosdistro', 'config', 'images.yaml'))).toBe(true);
  });
});
