import { Duration } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { BuildSecret } from './build-secret';
import { BuilderAsset } from './builder-asset';
import { IImageStore, ImageStore } from './image-store';
import { acknowledgeWildcards } from './nag';
import { grantAmiCleanup } from './ami-grants';
import { ProjectNetworkProps, loadBuildSpec, makeTailorProject } from './project-base';
import { invalidProps } from './validation';

export interface ImageCleanupProjectProps extends ProjectNetworkProps {
  /** The store whose releases are cleaned up. */
  readonly store: IImageStore;
  /** The bundled builder (cleanup_images.js). */
  readonly builder: BuilderAsset;
  /** Only images of this organization are considered. */
  readonly organization: string;
  /** The release cleaned up. */
  readonly releaseLabel: string;
  /** Further releases cleaned up by the same policy. @default none */
  readonly releaseLabels?: string[];
  /** Keep this many newest images per (name, distribution, extension). @default 10 */
  readonly numToKeep?: number;
  /** Also delete images older than this many days (the newest are still kept). @default no age limit */
  readonly daysToKeep?: number;
  /** The CodeBuild project's name. @default a name CloudFormation generates */
  readonly projectName?: string;
  /** How long cleanup logs are kept. @default ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** The releases hold ami images: the cleanup deregisters AMIs and deletes their snapshots (by tag). @default false */
  readonly amis?: boolean;
  /** The release signing key (see ImageBuildOptions.signingKey): a cleanup re-signs each release it changes. @default none */
  readonly signingKey?: BuildSecret;
}

/**
 * Retention cleanup of the factory's releases (buildspecs/cleanup-images.yml running
 * `cleanup_images` for each of RELEASE_LABELS): deletes images past the policy, all their
 * versions, and their index entries. Not privileged; may delete only under the release
 * prefixes.
 */
export class ImageCleanupProject extends Construct {
  readonly project: codebuild.Project;
  /** How long one cleanup may run. */
  readonly timeout: Duration;

  constructor(scope: Construct, id: string, props: ImageCleanupProjectProps) {
    super(scope, id);
    const numToKeep = props.numToKeep ?? 10;
    if (!Number.isInteger(numToKeep) || numToKeep < 1) throw invalidProps(this, 'NumToKeep', 'numToKeep must be a positive integer');
    if (props.daysToKeep !== undefined && (!Number.isInteger(props.daysToKeep) || props.daysToKeep < 1)) {
      throw invalidProps(this, 'DaysToKeep', 'daysToKeep must be a positive integer');
    }
    const labels = [...new Set([props.releaseLabel, ...(props.releaseLabels ?? [])])];
    for (const label of labels) ImageStore.releasePrefix(label, this);
    this.timeout = Duration.minutes(30);
    const plain = (value: string): codebuild.BuildEnvironmentVariable => ({ value });
    const made = makeTailorProject(this, {
      projectName: props.projectName,
      description: `tailor-image: retention cleanup of release${labels.length > 1 ? 's' : ''} ${labels.join(', ')}`,
      asset: props.builder.asset,
      buildSpec: loadBuildSpec('cleanup-images.yml'),
      computeType: codebuild.ComputeType.SMALL,
      privileged: false,
      timeout: this.timeout,
      logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      environmentVariables: {
        ORGANIZATION: plain(props.organization),
        RELEASE_LABEL: plain(props.releaseLabel),
        RELEASE_LABELS: plain(labels.join(' ')),
        IMAGE_BUCKET: plain(props.store.bucket.bucketName),
        CLOUDFRONT_DISTRIBUTION_ID: plain(props.store.distributionId ?? ''),
        NUM_TO_KEEP: plain(String(numToKeep)),
        DAYS_TO_KEEP: plain(props.daysToKeep === undefined ? '' : String(props.daysToKeep)),
        ...(props.signingKey ? { SIGNING_KEY: props.signingKey.environmentVariable() } : {}),
        DRY_RUN: plain('false'),
      },
      vpc: props.vpc,
      subnetSelection: props.subnetSelection,
      securityGroups: props.securityGroups,
    });
    this.project = made.project;
    const role = this.project.role!;
    for (const label of labels) props.store.grantCleanup(role, label);
    acknowledgeWildcards(role, { resources: labels.map((label) => props.store.releaseObjectsArn(label)) },
      'Cleanup deletes timestamped images (names known only at run time) under the release prefix only.');
    acknowledgeWildcards(role, { resources: [props.store.indexObjectsArn(), props.store.streamsObjectsArn()] },
      'The simplestreams files are rebuilt from every release index (read-only) and written under streams/v1/ only.');
    props.store.grantInvalidation(role);
    if (props.amis) grantAmiCleanup(role, labels);
    props.signingKey?.grantRead(role);
  }
}
