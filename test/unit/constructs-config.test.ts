import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ImageFactoryStack, readFactoryConfig } from '../../lib/constructs/app-config';
import { standardCatalog, writeCatalog } from './constructs-helpers';

process.env.CDK_VALIDATION = 'false';

function configFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'tailor-image-config-')), 'factory.yaml');
  writeFileSync(file, text);
  return file;
}

describe('the CDK app settings', () => {
  test('defaults from cdk.json, then the config file, then single context values', () => {
    const file = configFile('releaseLabel: nightly\nnumToKeep: 3\norganization: acme\n');
    const app = new App({
      context: {
        'tailor-image:defaults': { stackName: 'Images', numToKeep: 10, maxConcurrency: 4, releaseLabel: 'x' },
        'tailor-image:config': file,
        'tailor-image:numToKeep': '5',
        'tailor-image:distributions': '["jammy","noble"]',
      },
    });
    expect(readFactoryConfig(app)).toEqual(expect.objectContaining({
      stackName: 'Images',
      maxConcurrency: 4,
      releaseLabel: 'nightly',
      organization: 'acme',
      numToKeep: 5,
      distributions: ['jammy', 'noble'],
    }));
  });

  test('nothing set: the default stack name and nothing else', () => {
    expect(readFactoryConfig(new App())).toEqual({ stackName: 'TailorImageFactory' });
  });

  test.each([
    ['an unknown key', 'colour: blue\n', /^tailor-image: invalid setting \(config\): Unrecognized key/],
    ['a bad schedule', 'schedule: every day\n', /invalid setting schedule: must be a cron\(\.\.\.\) or rate\(\.\.\.\) expression/],
    ['both catalogs', 'recipesPath: a\nrosdistroPath: b\n', /recipesPath and rosdistroPath are exclusive/],
    ['a domain without certificate', 'domainNames: [images.example.com]\n', /domainNames need certificateArn/],
    ['a secret with two sources', 'secrets: {WRANGLER_PASSWORD: {secretsManager: a, ssmParameter: b}}\n', /invalid setting secrets\.WRANGLER_PASSWORD: give exactly one/],
    ['a secret that is not a variable name', 'secrets: {"not a name": {ssmParameter: /x}}\n', /invalid setting secrets\.not a name: Invalid key/],
    ['an existing store with a domain', 'store: {bucketName: acme-images}\ndomainNames: [a.example.com]\ncertificateArn: "arn:aws:acm:us-east-1:1:certificate/x"\n', /an existing store keeps its own/],
    ['not a mapping', '- a\n- b\n', /must be a mapping/],
  ])('%s is refused with one line', (_what, text, message) => {
    const app = new App({ context: { 'tailor-image:config': configFile(text) } });
    expect(() => readFactoryConfig(app)).toThrow(message);
  });

  test('a config file that does not exist', () => {
    const app = new App({ context: { 'tailor-image:config': '/nonexistent/factory.yaml' } });
    expect(() => readFactoryConfig(app)).toThrow('tailor-image: config file /nonexistent/factory.yaml does not exist');
  });

  test('an existing store from the settings: the factory publishes into it', () => {
    const app = new App({
      context: { 'tailor-image:config': configFile(`recipesPath: ${standardCatalog()}\nimages: [webapp]\nstore: {bucketName: acme-images, distributionId: E1EXAMPLE}\n`) },
    });
    const stack = new ImageFactoryStack(app, readFactoryConfig(app), { env: { account: '123456789012', region: 'us-east-1' } });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::CloudFront::Distribution', 0);
    template.hasOutput('ImagesBucket', { Value: 'acme-images' });
    template.hasOutput('DistributionId', { Value: 'E1EXAMPLE' });
  });

  test('the stack: secrets, certificate, geo restriction and outputs from the settings', () => {
    const app = new App({
      context: {
        'tailor-image:config': configFile([
          `recipesPath: ${writeCatalog([{ name: 'webapp', build_type: 'lxd', os_versions: ['jammy'], passwordEnv: 'OPERATOR_PASSWORD' }])}`,
          'images: [webapp]',
          'domainNames: [images.example.com]',
          'certificateArn: arn:aws:acm:us-east-1:123456789012:certificate/abc',
          'geoRestriction: [DE, FR]',
          'secrets: {OPERATOR_PASSWORD: {secretsManager: "arn:aws:secretsmanager:us-east-1:123456789012:secret:pw-AbCdEf", jsonField: hash}}',
          'aptRepoKey: {ssmParameter: /acme/apt-key}',
          'factoryName: acme-images',
          'releaseLabels: [nightly]',
          'retries: 1',
          'pipelineTimeoutHours: 20',
          'notificationEmails: [ops@example.com]',
          '',
        ].join('\n')),
      },
    });
    const stack = new ImageFactoryStack(app, readFactoryConfig(app), { env: { account: '123456789012', region: 'us-east-1' } });
    const template = Template.fromStack(stack);
    const project = Object.values(template.toJSON().Resources as Record<string, { Type: string; Properties: any }>)
      .find((r) => r.Type === 'AWS::CodeBuild::Project' && r.Properties.Name === 'acme-images-webapp')!;
    expect(project.Properties.Environment.EnvironmentVariables).toEqual(expect.arrayContaining([
      { Name: 'OPERATOR_PASSWORD', Type: 'SECRETS_MANAGER', Value: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:pw-AbCdEf:hash' },
      { Name: 'APT_REPO_KEY', Type: 'PARAMETER_STORE', Value: '/acme/apt-key' },
      { Name: 'RELEASE_LABELS', Type: 'PLAINTEXT', Value: 'hotdog nightly' },
    ]));
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { StateMachineName: 'acme-images-pipeline' });
    expect(stack.factory.pipeline.timeout.toHours()).toBe(20);
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: {
        Aliases: ['images.example.com'],
        Restrictions: { GeoRestriction: { Locations: ['DE', 'FR'], RestrictionType: 'whitelist' } },
      },
    });
    for (const output of ['ImagesUrl', 'ImagesBucket', 'DistributionId', 'FactoryName', 'StateMachineArn', 'NotificationTopicArn']) {
      template.hasOutput(output, {});
    }
  });
});
