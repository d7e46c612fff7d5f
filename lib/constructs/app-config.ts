import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { CfnOutput, Duration, Stack, StackProps } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as events from 'aws-cdk-lib/aws-events';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { z } from 'zod';
import { readYamlFile } from '../recipes/yaml-file';
import { BuildSecret } from './build-secret';
import { ImageFactory, ImageFactoryProps } from './image-factory';
import { ImageStore } from './image-store';
import { RecipeSource } from './recipe-source';
import { invalidProps } from './validation';

/** A secret named by a Secrets Manager name/ARN or an SSM parameter name. */
const SecretRefSchema = z
  .object({
    secretsManager: z.string().min(1).optional(),
    jsonField: z.string().min(1).optional(),
    ssmParameter: z.string().min(1).optional(),
  })
  .strict()
  .refine((s) => (s.secretsManager === undefined) !== (s.ssmParameter === undefined), {
    message: 'give exactly one of secretsManager or ssmParameter',
  });

/**
 * The factory's settings, from the file named by the `tailor-image:config` context
 * (default tailor-image.config.yaml when present) and then `tailor-image:<key>` context
 * values, which win. Everything is optional: the bundled catalog's common settings fill in.
 */
export const FactoryConfigSchema = z
  .object({
    stackName: z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/).default('TailorImageFactory'),
    factoryName: z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,62}$/, 'must be a letter, then up to 62 letters, digits or "-"').optional(),
    recipesPath: z.string().optional(),
    rosdistroPath: z.string().optional(),
    images: z.array(z.string()).optional(),
    distributions: z.array(z.string()).optional(),
    organization: z.string().optional(),
    releaseLabel: z.string().optional(),
    releaseLabels: z.array(z.string()).optional(),
    releaseTrack: z.string().optional(),
    flavour: z.string().optional(),
    aptRepo: z.string().optional(),
    dockerRegistry: z.string().optional(),
    schedule: z.string().regex(/^(cron|rate)\(.+\)$/, 'must be a cron(...) or rate(...) expression').optional(),
    numToKeep: z.number().int().positive().optional(),
    daysToKeep: z.number().int().positive().optional(),
    maxConcurrency: z.number().int().positive().optional(),
    buildTimeoutMinutes: z.number().int().min(5).max(2160).optional(),
    retries: z.number().int().min(0).max(10).optional(),
    pipelineTimeoutHours: z.number().positive().max(8760).optional(),
    cacheMaxAgeHours: z.number().positive().optional(),
    notificationEmails: z.array(z.string().email()).optional(),
    store: z.object({
      bucketName: z.string().min(3),
      distributionId: z.string().optional(),
      url: z.string().url().optional(),
    }).strict().optional(),
    domainNames: z.array(z.string()).optional(),
    certificateArn: z.string().startsWith('arn:').optional(),
    webAclId: z.string().optional(),
    geoRestriction: z.array(z.string().length(2)).optional(),
    secrets: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'), SecretRefSchema).optional(),
    aptRepoKey: SecretRefSchema.optional(),
  })
  .strict()
  .refine((c) => !(c.recipesPath && c.rosdistroPath), { message: 'recipesPath and rosdistroPath are exclusive' })
  .refine((c) => !c.domainNames?.length || c.certificateArn, { message: 'domainNames need certificateArn' })
  .refine((c) => !c.store || !(c.domainNames || c.certificateArn || c.webAclId || c.geoRestriction), {
    message: 'an existing store keeps its own domainNames, certificateArn, webAclId and geoRestriction',
  });
export type FactoryConfig = z.infer<typeof FactoryConfigSchema>;

const CONTEXT_PREFIX = 'tailor-image:';
const CONFIG_KEYS = ['stackName', 'factoryName', 'recipesPath', 'rosdistroPath', 'images', 'distributions', 'organization',
  'releaseLabel', 'releaseLabels', 'releaseTrack', 'flavour', 'aptRepo', 'dockerRegistry', 'schedule', 'numToKeep',
  'daysToKeep', 'maxConcurrency', 'buildTimeoutMinutes', 'retries', 'pipelineTimeoutHours', 'cacheMaxAgeHours',
  'notificationEmails', 'store', 'domainNames', 'certificateArn', 'webAclId', 'geoRestriction', 'secrets',
  'aptRepoKey'] as const;

/**
 * Reads the settings, lowest layer first: `tailor-image:defaults` (an object, kept in
 * cdk.json), the config file named by `tailor-image:config` (default
 * tailor-image.config.yaml when present), then single `tailor-image:<key>` context values
 * (`cdk synth -c tailor-image:releaseLabel=nightly`). Throws CDK's ValidationError, one line.
 */
export function readFactoryConfig(scope: Construct): FactoryConfig {
  const defaults = scope.node.tryGetContext(`${CONTEXT_PREFIX}defaults`) ?? {};
  if (typeof defaults !== 'object' || Array.isArray(defaults)) throw invalidProps(scope, 'FactoryConfig', 'tailor-image: the tailor-image:defaults context must be an object');
  const named = scope.node.tryGetContext(`${CONTEXT_PREFIX}config`) as string | undefined;
  const file = resolve(named ?? 'tailor-image.config.yaml');
  if (named && !existsSync(file)) throw invalidProps(scope, 'FactoryConfig', `tailor-image: config file ${file} does not exist`);
  const fromFile = existsSync(file) ? (readYamlFile(file) ?? {}) : {};
  if (typeof fromFile !== 'object' || Array.isArray(fromFile)) throw invalidProps(scope, 'FactoryConfig', `tailor-image: ${file} must be a mapping`);
  const merged: Record<string, unknown> = { ...(defaults as Record<string, unknown>), ...(fromFile as Record<string, unknown>) };
  for (const key of CONFIG_KEYS) {
    const value: unknown = scope.node.tryGetContext(`${CONTEXT_PREFIX}${key}`);
    if (value !== undefined && value !== null && value !== '') merged[key] = parseContextValue(value);
  }
  const parsed = FactoryConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalidProps(scope, 'FactoryConfig', `tailor-image: invalid setting ${issue.path.join('.') || '(config)'}: ${issue.message}`);
  }
  return parsed.data;
}

/** `-c tailor-image:numToKeep=5` arrives as a string; JSON-looking values are parsed. */
function parseContextValue(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  if (/^(\d+|\[.*\]|\{.*\}|true|false)$/s.test(value.trim())) {
    try {
      return JSON.parse(value);
    } catch {
      return value;
    }
  }
  return value;
}

/** A stack holding one ImageFactory configured from `config`, with its useful outputs. */
export class ImageFactoryStack extends Stack {
  readonly factory: ImageFactory;

  constructor(scope: Construct, config: FactoryConfig, props: StackProps = {}) {
    super(scope, config.stackName, { description: 'tailor-image: OS image factory', ...props });
    this.factory = new ImageFactory(this, 'Factory', factoryProps(this, config));
    const { store } = this.factory;
    if (store.url) new CfnOutput(this, 'ImagesUrl', { value: store.url, description: 'Where images are downloaded from' });
    new CfnOutput(this, 'ImagesBucket', { value: store.bucket.bucketName });
    if (store.distributionId) new CfnOutput(this, 'DistributionId', { value: store.distributionId });
    new CfnOutput(this, 'FactoryName', { value: this.factory.factoryName, description: 'What `trigger --factory` names' });
    new CfnOutput(this, 'StateMachineArn', { value: this.factory.pipeline.stateMachine.stateMachineArn });
    new CfnOutput(this, 'NotificationTopicArn', { value: this.factory.topic.topicArn });
  }
}

export function factoryProps(scope: Construct, config: FactoryConfig): ImageFactoryProps {
  const recipes = config.rosdistroPath
    ? RecipeSource.rosdistro(config.rosdistroPath)
    : config.recipesPath ? RecipeSource.directory(config.recipesPath) : RecipeSource.bundled();
  return {
    recipes,
    factoryName: config.factoryName,
    store: config.store ? ImageStore.fromAttributes(scope, 'ExistingStore', config.store) : undefined,
    images: config.images,
    distributions: config.distributions,
    organization: config.organization,
    releaseLabel: config.releaseLabel,
    releaseLabels: config.releaseLabels,
    releaseTrack: config.releaseTrack,
    flavour: config.flavour,
    aptRepo: config.aptRepo,
    dockerRegistry: config.dockerRegistry,
    schedule: config.schedule ? events.Schedule.expression(config.schedule) : undefined,
    numToKeep: config.numToKeep,
    daysToKeep: config.daysToKeep,
    maxConcurrency: config.maxConcurrency,
    buildTimeout: config.buildTimeoutMinutes ? Duration.minutes(config.buildTimeoutMinutes) : undefined,
    retries: config.retries,
    pipelineTimeout: config.pipelineTimeoutHours ? Duration.minutes(Math.ceil(config.pipelineTimeoutHours * 60)) : undefined,
    cacheMaxAge: config.cacheMaxAgeHours ? Duration.minutes(Math.ceil(config.cacheMaxAgeHours * 60)) : undefined,
    notificationSubscriptions: config.notificationEmails?.map((email) => new subscriptions.EmailSubscription(email)),
    domainNames: config.domainNames,
    certificate: config.certificateArn ? acm.Certificate.fromCertificateArn(scope, 'Certificate', config.certificateArn) : undefined,
    webAclId: config.webAclId,
    geoRestriction: config.geoRestriction?.length ? cloudfront.GeoRestriction.allowlist(...config.geoRestriction) : undefined,
    secrets: config.secrets
      ? Object.fromEntries(Object.entries(config.secrets).map(([name, ref]) => [name, secretFrom(scope, `Secret-${name}`, ref)!]))
      : undefined,
    aptRepoKey: secretFrom(scope, 'AptRepoKey', config.aptRepoKey),
  };
}

type SecretRef = z.infer<typeof SecretRefSchema>;

function secretFrom(scope: Construct, id: string, ref: SecretRef | undefined): BuildSecret | undefined {
  if (!ref) return undefined;
  if (ref.secretsManager) {
    const secret = ref.secretsManager.startsWith('arn:')
      ? secretsmanager.Secret.fromSecretCompleteArn(scope, id, ref.secretsManager)
      : secretsmanager.Secret.fromSecretNameV2(scope, id, ref.secretsManager);
    return BuildSecret.fromSecretsManager(secret, ref.jsonField);
  }
  return BuildSecret.fromSsmParameter(
    ssm.StringParameter.fromSecureStringParameterAttributes(scope, id, { parameterName: ref.ssmParameter! }),
  );
}
