import { App, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as events from 'aws-cdk-lib/aws-events';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { AwsSolutionsChecks } from 'cdk-nag';
import { IConstruct } from 'constructs';
import { BuildSecret, ImageFactoryProps, ImageStore, RecipeSource } from '../../lib/constructs';
import { factoryStack, standardCatalog, writeCatalog } from './constructs-helpers';

const catalog = standardCatalog();
const withSecret = writeCatalog([
  { name: 'robot', build_type: 'bare_metal', os_versions: ['noble'], passwordEnv: 'OPERATOR_PASSWORD' },
  { name: 'dev-env', build_type: 'docker', os_versions: ['noble'] },
]);

const withAmi = writeCatalog([{ name: 'fleet', build_type: 'ami', os_versions: ['bookworm'] }]);

const withArm64 = writeCatalog([
  { name: 'webapp', build_type: 'lxd', os_versions: ['bookworm'], architectures: ['amd64', 'arm64'] },
  { name: 'wrangler', build_type: 'bare_metal', os_versions: ['noble'], architectures: ['amd64', 'arm64'], passwordEnv: 'OPERATOR_PASSWORD' },
  { name: 'dev-env', build_type: 'docker', os_versions: ['bookworm'], architectures: ['arm64'] },
]);

const configurations: Record<string, (stack: Stack) => ImageFactoryProps> = {
  'the defaults': () => ({ recipes: RecipeSource.directory(catalog) }),
  'an ami recipe copied and shared': () => ({ recipes: RecipeSource.directory(withAmi), amiCopyRegions: ['us-west-2'], amiShareAccounts: ['444455556666'] }),
  'arm64 projects beside amd64 ones (secrets, registry, S3 org repository)': (stack) => ({
    recipes: RecipeSource.directory(withArm64),
    secrets: { OPERATOR_PASSWORD: BuildSecret.fromSecretsManager(secretsmanager.Secret.fromSecretNameV2(stack, 'Pw', 'image-user')) },
    aptRepo: 's3://acme-apt/repos',
  }),
  'an existing store': (stack) => ({
    recipes: RecipeSource.directory(catalog),
    store: ImageStore.fromBucketName(stack, 'Existing', 'acme-images', { distributionId: 'E1EXAMPLE' }),
    cacheRemovalPolicy: RemovalPolicy.RETAIN,
  }),
  'every option': (stack) => ({
    recipes: RecipeSource.directory(withSecret),
    vpc: new ec2.Vpc(stack, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      flowLogs: { all: { trafficType: ec2.FlowLogTrafficType.REJECT } },
    }),
    domainNames: ['images.example.com'],
    certificate: acm.Certificate.fromCertificateArn(stack, 'Cert', 'arn:aws:acm:us-east-1:123456789012:certificate/abc'),
    geoRestriction: cloudfront.GeoRestriction.allowlist('DE'),
    webAclId: 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/images/1',
    schedule: events.Schedule.rate(Duration.days(1)),
    notificationTopic: new sns.Topic(stack, 'Ops', {
      enforceSSL: true,
      masterKey: new kms.Key(stack, 'OpsKey', { enableKeyRotation: true }),
    }),
    secrets: { OPERATOR_PASSWORD: BuildSecret.fromSecretsManager(
      secretsmanager.Secret.fromSecretNameV2(stack, 'Pw', 'image-user'),
    ) },
    aptRepo: 's3://acme-apt/repos',
    releaseLabels: ['nightly'],
    notificationSubscriptions: [new subscriptions.EmailSubscription('ops@example.com')],
    aptRepoKey: BuildSecret.fromSsmParameter(
      ssm.StringParameter.fromSecureStringParameterAttributes(stack, 'Key', { parameterName: '/acme/apt-key' }),
    ),
    daysToKeep: 60,
  }),
};

/** Every acknowledgement recorded in the tree: rule id -> reasons. */
function acknowledgements(root: IConstruct): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const visit = (node: IConstruct) => {
    for (const entry of node.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        const rule = id.replace(/^annotation::/i, '');
        // CDK acknowledges some of its own CloudFormation-Validate warnings; only ours count here.
        if (!rule.startsWith('AwsSolutions-')) continue;
        found.set(rule, [...(found.get(rule) ?? []), String(reason)]);
      }
    }
    node.node.children.forEach(visit);
  };
  visit(root);
  return found;
}

describe.each(Object.entries(configurations))('cdk-nag AwsSolutions with %s', (_label, props) => {
  test('reports no unacknowledged error or warning', () => {
    const { app } = factoryStack(props);
    const report = new AwsSolutionsChecks().validateScope(app);
    expect(report.violations.map((v) => `${v.severity} ${v.ruleName} ${v.violatingResources.map((r) => r.constructPath).join(',')}`)).toEqual([]);
    expect(report.success).toBe(true);
  });

  test('every acknowledgement has its reason and matches a real finding (none is stale)', () => {
    const { app } = factoryStack(props);
    const acknowledged = acknowledgements(app);
    expect(acknowledged.size).toBeGreaterThan(0);
    for (const reasons of acknowledged.values()) {
      for (const reason of reasons) expect(reason.length).toBeGreaterThan(20);
    }
    // The same app without any acknowledgement: the findings they answer.
    const spy = jest.spyOn(Validations.prototype, 'acknowledge').mockImplementation(() => undefined);
    let raw: string[];
    try {
      raw = new AwsSolutionsChecks().validateScope(factoryStack(props).app).violations.map((v) => v.ruleName);
    } finally {
      spy.mockRestore();
    }
    expect([...acknowledged.keys()].filter((rule) => !raw.includes(rule))).toEqual([]);
    expect(raw.filter((rule) => !acknowledged.has(rule))).toEqual([]);
  });
});

test('the CDK app registers the AwsSolutions plugin, so findings fail synth', () => {
  // bin/app.ts does exactly this; a plain bucket shows the plugin is live.
  process.env.CDK_VALIDATION = 'false';
  const app = new App();
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new Stack(app, 'Bare');
  new s3.Bucket(stack, 'Plain');
  expect(() => app.synth()).toThrow(/AwsSolutions-S1/);
});
