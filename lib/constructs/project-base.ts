import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { parse } from 'yaml';
import { packageRoot } from './builder-asset';
import { acknowledgeWildcards } from './nag';

/** Options every tailor-image CodeBuild project shares. */
export interface ProjectNetworkProps {
  /** Run builds inside this VPC (for private mirrors or registries). @default no VPC */
  readonly vpc?: ec2.IVpc;
  /** The subnets builds run in. @default the VPC's private subnets */
  readonly subnetSelection?: ec2.SubnetSelection;
  /** The security groups of the builds. @default one CodeBuild makes per project */
  readonly securityGroups?: ec2.ISecurityGroup[];
}

/** A buildspec as parsed from its YAML file. */
export type BuildSpecObject = Record<string, any>;

/**
 * Loads a buildspec from buildspecs/ (shipped with the package) as CodeBuild's object form;
 * `adapt` may change the parsed object first (the arm64 projects' install phase).
 */
export function loadBuildSpec(file: string, adapt?: (spec: BuildSpecObject) => void): codebuild.BuildSpec {
  const text = readFileSync(join(packageRoot(), 'buildspecs', file), 'utf8');
  const spec = parse(text) as BuildSpecObject;
  adapt?.(spec);
  return codebuild.BuildSpec.fromObject(spec);
}

/** What makeTailorProject needs besides the network. */
export interface TailorProjectOptions extends ProjectNetworkProps {
  /** The project's name. @default a name CloudFormation generates */
  readonly projectName?: string;
  /** The project's description. */
  readonly description: string;
  /** The builder asset, the project's source. */
  readonly asset: s3assets.Asset;
  /** What the builds run. */
  readonly buildSpec: codebuild.BuildSpec;
  /** The CodeBuild compute type. */
  readonly computeType: codebuild.ComputeType;
  /** The build image (its type says the environment: LINUX_CONTAINER, ARM_CONTAINER). @default LinuxBuildImage.STANDARD_8_0 (Ubuntu 24.04, x86_64) */
  readonly buildImage?: codebuild.IBuildImage;
  /** Whether builds may mount and chroot (image builds do). */
  readonly privileged: boolean;
  /** The time limit of one build. */
  readonly timeout: Duration;
  /** How long the project's logs are kept. */
  readonly logRetention: logs.RetentionDays;
  /** The build's environment. */
  readonly environmentVariables: Record<string, codebuild.BuildEnvironmentVariable>;
}

/**
 * The parts of a tailor-image CodeBuild project that do not depend on what it runs:
 * the builder asset as source, a KMS key with rotation for its artifacts and cache, a
 * log group with a retention, an Ubuntu 24.04 standard image (unless told), a timeout, an optional
 * VPC. The cdk-nag findings that come with every CodeBuild project are acknowledged
 * here, each with its reason.
 */
export function makeTailorProject(scope: Construct, options: TailorProjectOptions) {
  const encryptionKey = new kms.Key(scope, 'Key', {
    description: `tailor-image: ${options.description}`,
    enableKeyRotation: true,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const logGroup = new logs.LogGroup(scope, 'Logs', {
    retention: options.logRetention,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const project = new codebuild.Project(scope, 'Project', {
    projectName: options.projectName,
    description: options.description,
    source: codebuild.Source.s3({ bucket: options.asset.bucket, path: options.asset.s3ObjectKey }),
    buildSpec: options.buildSpec,
    environment: {
      buildImage: options.buildImage ?? codebuild.LinuxBuildImage.STANDARD_8_0,
      computeType: options.computeType,
      privileged: options.privileged,
    },
    environmentVariables: options.environmentVariables,
    encryptionKey,
    timeout: options.timeout,
    queuedTimeout: Duration.hours(8),
    logging: { cloudWatch: { logGroup } },
    vpc: options.vpc,
    subnetSelection: options.vpc ? options.subnetSelection : undefined,
    securityGroups: options.vpc ? options.securityGroups : undefined,
  });

  const role = project.role!;
  const stack = Stack.of(scope);
  acknowledgeWildcards(role, {
    actions: ['kms:GenerateDataKey*', 'kms:ReEncrypt*'],
  }, 'The standard key-usage grant of the project\'s own KMS key (one key, held by this project only).');
  acknowledgeWildcards(role, {
    actions: ['s3:GetObject*', 's3:GetBucket*', 's3:List*'],
  }, 'CDK\'s standard read grant on the one asset object that holds the bundled builder (the project\'s source).');
  acknowledgeWildcards(role, {
    resources: [
      `arn:${stack.partition}:logs:${stack.region}:${stack.account}:log-group:/aws/codebuild/${project.projectName}:*`,
      `arn:${stack.partition}:codebuild:${stack.region}:${stack.account}:report-group/${project.projectName}-*`,
    ],
  }, 'CodeBuild\'s default grants: log streams (names unknown in advance) of the project\'s /aws/codebuild log group, and report groups named after the project.');
  if (options.vpc) {
    // On the project: CDK puts these into the role's policy and a policy of the project's own.
    acknowledgeWildcards(project, {
      resources: ['*', `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:network-interface/*`],
    }, 'CodeBuild attaches builds to the VPC with ec2:Describe*/CreateNetworkInterface*, which have no resource-level scoping or unknown interface ids.');
  }
  return { project, encryptionKey, logGroup };
}
