import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { ImageFactory, ImageStore, RecipeSource, scheduleInterval } from '../../lib/constructs';
import { resolveRequest } from '../../lib/cli/resolve-request';
import { factoryStack, standardCatalog, writeCatalog } from './constructs-helpers';

/** What the factory does that a platform team relies on: one test (or a few) per finding of issue 14. */

const catalog = standardCatalog();

type Resources = Record<string, { Type: string; Properties: Record<string, any>; DeletionPolicy?: string }>;

function envOf(resources: Resources, id: string): Record<string, unknown> {
  return Object.fromEntries((resources[id].Properties.Environment.EnvironmentVariables as Array<{ Name: string; Value: unknown }>)
    .map((v) => [v.Name, v.Value]));
}

function statementsOf(resources: Resources, roleId: string): Array<Record<string, any>> {
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((role: { Ref: string }) => role.Ref === roleId))
    .flatMap((r) => r.Properties.PolicyDocument.Statement);
}

describe('an s3:// org APT repository', () => {
  const { factory, resources, idOf } = factoryStack({
    recipes: RecipeSource.directory(catalog),
    images: ['webapp'],
    aptRepo: 's3://acme-apt/repos',
    releaseLabels: ['nightly'],
  });
  const statements = statementsOf(resources, idOf(factory.projects.webapp.project.role!));
  const onApt = statements.filter((s) => JSON.stringify(s.Resource).includes('acme-apt'));

  test('is readable under each release\'s repository prefix, and only there', () => {
    const read = onApt.find((s) => s.Action === 's3:GetObject')!;
    expect(read.Resource).toEqual([
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::acme-apt/repos/hotdog/ubuntu/*']] },
      { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::acme-apt/repos/nightly/ubuntu/*']] },
    ]);
    // The listing of that prefix tells a missing file (apt falls back) from a refused one.
    const list = onApt.find((s) => s.Action === 's3:ListBucket')!;
    expect(list.Resource).toEqual({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::acme-apt']] });
    expect(list.Condition).toEqual({ StringLike: { 's3:prefix': ['repos/hotdog/ubuntu/*', 'repos/nightly/ubuntu/*'] } });
    expect(onApt).toHaveLength(2);
    expect(JSON.stringify(onApt)).not.toMatch(/PutObject|Delete/);
  });

  test('an http(s) repository gets no S3 grant', () => {
    const http = factoryStack({ recipes: RecipeSource.directory(catalog), images: ['webapp'], aptRepo: 'https://apt.example.com' });
    const all = JSON.stringify(statementsOf(http.resources, http.idOf(http.factory.projects.webapp.project.role!)));
    expect(all).not.toContain('apt.example.com');
  });
});

describe('the bundle flavour', () => {
  const flavoured = writeCatalog([
    { name: 'own', build_type: 'lxd', os_versions: ['bookworm'], bundle_flavour: 'robot' },
    { name: 'common', build_type: 'lxd', os_versions: ['bookworm'] },
  ], { flavour: 'fleet' });

  test('is what create_image picks for the same recipe: the recipe\'s own, then the common one, then the name', () => {
    const { factory, resources, idOf } = factoryStack({ recipes: RecipeSource.directory(flavoured) });
    const locally = (name: string) => resolveRequest({ name: [name], distribution: 'bookworm', recipesPath: flavoured } as never).flavour;
    for (const name of ['own', 'common']) {
      expect(envOf(resources, idOf(factory.projects[name].project)).FLAVOUR).toBe(locally(name));
    }
    expect(locally('own')).toBe('robot');
    expect(locally('common')).toBe('fleet');
  });

  test('the factory\'s flavour is the common one: a recipe\'s own still wins', () => {
    const { factory, resources, idOf } = factoryStack({ recipes: RecipeSource.directory(flavoured), flavour: 'override' });
    expect(envOf(resources, idOf(factory.projects.own.project)).FLAVOUR).toBe('robot');
    expect(envOf(resources, idOf(factory.projects.common.project)).FLAVOUR).toBe('override');
  });
});

describe('release labels', () => {
  const { factory, resources, idOf } = factoryStack({
    recipes: RecipeSource.directory(catalog), images: ['webapp'], releaseLabels: ['nightly', 'hotdog'],
  });

  test('each label the factory names is granted to the builds and cleaned up; the builds know which', () => {
    const env = envOf(resources, idOf(factory.projects.webapp.project));
    expect(env.RELEASE_LABEL).toBe('hotdog');
    expect(env.RELEASE_LABELS).toBe('hotdog nightly');
    const bucketId = idOf((factory.store as ImageStore).bucket);
    const granted = (roleId: string) => statementsOf(resources, roleId)
      .filter((s) => JSON.stringify(s.Action).includes('s3:PutObject') && JSON.stringify(s.Resource).includes(bucketId))
      .map((s) => s.Resource['Fn::Join'][1][1]);
    expect(granted(idOf(factory.projects.webapp.project.role!))).toEqual(['/hotdog/images/*', '/streams/v1/*', '/nightly/images/*']);
    expect(granted(idOf(factory.cleanup.project.role!))).toEqual(['/hotdog/images/*', '/streams/v1/*', '/nightly/images/*']);
    expect(envOf(resources, idOf(factory.cleanup.project)).RELEASE_LABELS).toBe('hotdog nightly');
  });
});

describe('the build cache', () => {
  test('deletes with the stack by default (emptied first), or stays when asked', () => {
    const { factory, template, idOf } = factoryStack({ recipes: RecipeSource.directory(catalog), images: ['webapp'] });
    const json = template.toJSON().Resources as Resources;
    expect(json[idOf(factory.cacheBucket)].DeletionPolicy).toBe('Delete');
    const autoDelete = Object.values(json).filter((r) => r.Type === 'Custom::S3AutoDeleteObjects');
    expect(autoDelete.map((r) => r.Properties.BucketName)).toEqual([{ Ref: idOf(factory.cacheBucket) }]);

    const kept = factoryStack({ recipes: RecipeSource.directory(catalog), images: ['webapp'], cacheRemovalPolicy: RemovalPolicy.RETAIN });
    const keptJson = kept.template.toJSON().Resources as Resources;
    expect(keptJson[kept.idOf(kept.factory.cacheBucket)].DeletionPolicy).toBe('Retain');
    expect(Object.values(keptJson).filter((r) => r.Type === 'Custom::S3AutoDeleteObjects')).toEqual([]);
  });

  test('its entries outlive the schedule\'s interval, so each scheduled build reuses the last one\'s', () => {
    const hours = (schedule?: events.Schedule, cacheMaxAge?: Duration) => {
      const { factory, resources, idOf } = factoryStack({ recipes: RecipeSource.directory(catalog), images: ['webapp'], schedule, cacheMaxAge });
      return envOf(resources, idOf(factory.projects.webapp.project)).CACHE_MAX_AGE_HOURS;
    };
    expect(hours(events.Schedule.cron({ hour: '3', minute: '0' }))).toBe('36');
    expect(hours(events.Schedule.expression('cron(0 3 ? * MON *)'))).toBe(String(7 * 24 + 12));
    expect(hours(events.Schedule.rate(Duration.hours(6)))).toBe('18');
    expect(hours(events.Schedule.rate(Duration.days(2)), Duration.hours(100))).toBe('100');
    // No schedule: the builder's own default.
    expect(hours()).toBe('');
  });

  test('scheduleInterval reads rate() and plain cron() expressions, and admits what it cannot read', () => {
    expect(scheduleInterval(events.Schedule.expression('rate(1 day)'))?.toHours()).toBe(24);
    expect(scheduleInterval(events.Schedule.expression('cron(30 2 * * ? *)'))?.toHours()).toBe(24);
    expect(scheduleInterval(events.Schedule.expression('cron(0 4 1 * ? *)'))?.toDays()).toBe(31);
    expect(scheduleInterval(events.Schedule.expression('cron(0 */6 * * ? *)'))).toBeUndefined();
    expect(scheduleInterval(events.Schedule.expression('cron(0 3 ? * MON-FRI *)'))).toBeUndefined();
  });
});

describe('two factories in one account', () => {
  test('staging and production stacks have no physical name in common', () => {
    process.env.CDK_VALIDATION = 'false';
    const app = new App();
    const env = { account: '123456789012', region: 'eu-west-1' };
    const stacks = ['ImagesStaging', 'ImagesProduction'].map((stackName) => {
      const stack = new Stack(app, stackName, { env });
      new ImageFactory(stack, 'Factory', { recipes: RecipeSource.directory(catalog) });
      return stack;
    });
    const names = (stackName: string) => {
      const resources = Template.fromStack(stacks.find((stack) => stack.stackName === stackName)!).toJSON().Resources as Resources;
      return Object.values(resources).flatMap((r) =>
        ['Name', 'RepositoryName', 'StateMachineName', 'BucketName', 'TopicName', 'LogGroupName']
          .map((key) => r.Properties?.[key])
          .filter((value): value is string => typeof value === 'string')
          .map((value) => `${r.Type} ${value}`));
    };
    const staging = names('ImagesStaging');
    const production = names('ImagesProduction');
    expect(staging).toEqual(expect.arrayContaining([
      'AWS::CodeBuild::Project ImagesStaging-webapp',
      'AWS::CodeBuild::Project ImagesStaging_cleanup',
      'AWS::StepFunctions::StateMachine ImagesStaging-pipeline',
      'AWS::ECR::Repository imagesstaging/acme',
    ]));
    expect(staging.filter((name) => production.includes(name))).toEqual([]);
  });

  test('every resource carries the factory tag; build projects also their recipe', () => {
    const { factory, resources, idOf } = factoryStack({ recipes: RecipeSource.directory(catalog), factoryName: 'AcmeImages' });
    const tags = (id: string) => Object.fromEntries((resources[id].Properties.Tags as Array<{ Key: string; Value: string }>)
      .map((t) => [t.Key, t.Value]));
    expect(tags(idOf(factory.projects.webapp.project))).toEqual({ 'tailor-image:factory': 'AcmeImages', 'tailor-image:image': 'webapp' });
    expect(tags(idOf(factory.cleanup.project))).toEqual({ 'tailor-image:factory': 'AcmeImages' });
    const machine = resources[idOf(factory.pipeline.stateMachine)].Properties;
    expect(machine.Tags).toEqual([{ Key: 'tailor-image:factory', Value: 'AcmeImages' }]);
    expect(machine.StateMachineName).toBe('AcmeImages-pipeline');
  });
});

describe('notifications and alarms', () => {
  test('the topic is subscribed from props', () => {
    const { factory, resources, idOf } = factoryStack({
      recipes: RecipeSource.directory(catalog),
      images: ['webapp'],
      notificationSubscriptions: [new subscriptions.EmailSubscription('ops@example.com')],
    });
    const subscribed = Object.values(resources).filter((r) => r.Type === 'AWS::SNS::Subscription');
    expect(subscribed.map((r) => r.Properties)).toEqual([
      expect.objectContaining({ Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: { Ref: idOf(factory.topic as never) } }),
    ]);
  });

  test('an alarm on failed pipeline executions, and a metric of failed builds', () => {
    const { factory, resources, idOf, stack } = factoryStack({ recipes: RecipeSource.directory(catalog) });
    const alarm = resources[idOf(factory.failureAlarm)].Properties;
    expect(alarm).toEqual(expect.objectContaining({
      MetricName: 'ExecutionsFailed',
      Namespace: 'AWS/States',
      Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: idOf(factory.pipeline.stateMachine) } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    }));
    const metric = factory.metricFailedBuilds().toMetricConfig().mathExpression!;
    expect(metric.expression).toBe('FILL(failed0, 0) + FILL(failed1, 0) + FILL(failed2, 0)');
    const projects = Object.values(metric.usingMetrics).map((m) => stack.resolve(m.toMetricConfig().metricStat!.dimensions![0].value));
    expect(projects.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual(
      Object.values(factory.projects).map((p) => ({ Ref: idOf(p.project) })).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))));
  });
});

describe('an existing store (another app publishes into it)', () => {
  const { factory, resources, idOf } = factoryStack((stack) => ({
    recipes: RecipeSource.directory(catalog),
    images: ['webapp'],
    store: ImageStore.fromBucketName(stack, 'Existing', 'acme-images', { distributionId: 'E1EXAMPLE', url: 'https://images.example.com' }),
  }));

  test('no bucket or distribution of its own; the projects publish into the given bucket, invalidate its distribution', () => {
    expect(Object.values(resources).filter((r) => r.Type === 'AWS::CloudFront::Distribution')).toEqual([]);
    expect(Object.values(resources).filter((r) => r.Type === 'AWS::S3::Bucket')).toHaveLength(1); // the build cache
    const env = envOf(resources, idOf(factory.projects.webapp.project));
    expect(env.IMAGE_BUCKET).toBe('acme-images');
    expect(env.CLOUDFRONT_DISTRIBUTION_ID).toBe('E1EXAMPLE');
    expect(env.IMAGE_URL).toBe('https://images.example.com');
    const statements = statementsOf(resources, idOf(factory.projects.webapp.project.role!));
    const publish = statements.find((s) => JSON.stringify(s.Action).includes('s3:PutObject') && JSON.stringify(s.Resource).includes('acme-images/hotdog'))!;
    expect(publish.Resource).toEqual({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::acme-images/hotdog/images/*']] });
    const invalidation = statements.find((s) => s.Action === 'cloudfront:CreateInvalidation')!;
    expect(JSON.stringify(invalidation.Resource)).toContain('distribution/E1EXAMPLE');
  });

  test('without a distribution: nothing to invalidate, no CloudFront grant', () => {
    const bare = factoryStack((stack) => ({
      recipes: RecipeSource.directory(catalog), images: ['webapp'], store: ImageStore.fromAttributes(stack, 'Existing', { bucketName: 'acme-images' }),
    }));
    expect(envOf(bare.resources, bare.idOf(bare.factory.projects.webapp.project)).CLOUDFRONT_DISTRIBUTION_ID).toBe('');
    expect(JSON.stringify(statementsOf(bare.resources, bare.idOf(bare.factory.projects.webapp.project.role!)))).not.toContain('cloudfront:');
  });
});

describe('grants for operators', () => {
  function granted(grant: (factory: ImageFactory, role: iam.Role) => void) {
    process.env.CDK_VALIDATION = 'false';
    const stack = new Stack(new App(), 'Factory', { env: { account: '123456789012', region: 'eu-west-1' } });
    const factory = new ImageFactory(stack, 'Factory', { recipes: RecipeSource.directory(catalog) });
    const role = new iam.Role(stack, 'Operator', { assumedBy: new iam.AccountRootPrincipal() });
    grant(factory, role);
    const resources = Template.fromStack(stack).toJSON().Resources as Resources;
    const idOf = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as never);
    return { statements: statementsOf(resources, idOf(role)), factory, idOf };
  }

  test('grantTrigger: start and follow the factory\'s builds and pipeline, and nothing else', () => {
    const { statements, factory, idOf } = granted((f, role) => f.grantTrigger(role));
    const builds = statements.find((s) => JSON.stringify(s.Action).includes('codebuild:StartBuild'))!;
    expect(builds.Action).toEqual(['codebuild:StartBuild', 'codebuild:StopBuild', 'codebuild:BatchGetBuilds', 'codebuild:BatchGetProjects']);
    const projectArns = statements.filter((s) => JSON.stringify(s.Action).includes('codebuild:StartBuild')).map((s) => JSON.stringify(s.Resource));
    expect(projectArns).toHaveLength(3);
    // trigger --name looks up every architecture's project: the ones not made may be read (found missing), no more.
    const lookups = statements.filter((s) => s.Action === 'codebuild:BatchGetProjects').flatMap((s) => [s.Resource].flat()).map((r) => JSON.stringify(r));
    expect(lookups.map((r) => r.match(/project\/([^"]+)"/)![1]).sort()).toEqual(['Factory-dev-env-arm64', 'Factory-webapp-arm64', 'Factory-wrangler-arm64']);
    for (const project of Object.values(factory.projects)) {
      expect(projectArns.some((arn) => arn.includes(idOf(project.project)))).toBe(true);
    }
    const start = statements.find((s) => s.Action === 'states:StartExecution')!;
    expect(start.Resource).toEqual({ Ref: idOf(factory.pipeline.stateMachine) });
    expect(statements.some((s) => s.Action === 'states:ListTagsForResource')).toBe(true);
    expect(JSON.stringify(statements)).not.toMatch(/s3:|iam:|codebuild:\*/);
  });

  test('grantRead: one release of the store', () => {
    const { statements } = granted((f, role) => f.grantRead(role, 'hotdog'));
    expect(statements.find((s) => s.Action === 's3:GetObject')!.Resource['Fn::Join'][1][1]).toBe('/hotdog/images/*');
    expect(JSON.stringify(statements)).not.toContain('PutObject');
  });
});
