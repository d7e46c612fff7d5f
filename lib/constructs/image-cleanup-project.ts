import { Duration } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { BuilderAsset } from './builder-asset';
import { ImageStore } from './image-store';
import { acknowledgeWildcards } from './nag';
import { ProjectNetworkProps, loadBuildSpec, makeTailorProject } from './project-base';

export interface ImageCleanupProjectProps extends ProjectNetworkProps {
  readonly store: ImageStore;
  readonly builder: BuilderAsset;
  readonly organization: string;
  readonly releaseLabel: string;
  /** Keep this many newest images per (name, distribution, extension). @default 10 */
  readonly numToKeep?: number;
  /** Also delete images older than this many days (the newest are still kept). @default no age limit */
  readonly daysToKeep?: number;
  /** @default `tailor-image-cleanup` */
  readonly projectName?: string;
  /** @default ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * Retention cleanup of one release (buildspecs/cleanup-images.yml running
 * `cleanup_images`): deletes images past the policy, all their versions, and their
 * index entries. Not privileged; may delete only under the release prefix.
 */
export class ImageCleanupProject extends Construct {
  readonly project: codebuild.Project;

  constructor(scope: Construct, id: string, props: ImageCleanupProjectProps) {
    super(scope, id);
    const numToKeep = props.numToKeep ?? 10;
    if (!Number.isInteger(numToKeep) || numToKeep < 1) throw new Error('ImageCleanupProject: numToKeep must be a positive integer');
    if (props.daysToKeep !== undefined && (!Number.isInteger(props.daysToKeep) || props.daysToKeep < 1)) {
      throw new Error('ImageCleanupProject: daysToKeep must be a positive integer');
    }
    const plain = (value: string): codebuild.BuildEnvironmentVariable => ({ value });
    const made = makeTailorProject(this, {
      projectName: props.projectName ?? 'tailor-image-cleanup',
      description: `tailor-image: retention cleanup of release ${props.releaseLabel}`,
      asset: props.builder.asset,
      buildSpec: loadBuildSpec('cleanup-images.yml'),
      computeType: codebuild.ComputeType.SMALL,
      privileged: false,
      timeout: Duration.minutes(30),
      logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      environmentVariables: {
        ORGANIZATION: plain(props.organization),
        RELEASE_LABEL: plain(props.releaseLabel),
        IMAGE_BUCKET: plain(props.store.bucket.bucketName),
        CLOUDFRONT_DISTRIBUTION_ID: plain(props.store.distribution.distributionId),
        NUM_TO_KEEP: plain(String(numToKeep)),
        DAYS_TO_KEEP: plain(props.daysToKeep === undefined ? '' : String(props.daysToKeep)),
        DRY_RUN: plain('false'),
      },
      vpc: props.vpc,
      subnetSelection: props.subnetSelection,
      securityGroups: props.securityGroups,
    });
    this.project = made.project;
    const role = this.project.role!;
    props.store.grantCleanup(role, props.releaseLabel);
    acknowledgeWildcards(role, { resources: [props.store.releaseObjectsArn(props.releaseLabel)] },
      'Cleanup deletes timestamped images (names known only at run time) under the release prefix only.');
    acknowledgeWildcards(role, { resources: [props.store.indexObjectsArn(), props.store.streamsObjectsArn()] },
      'The simplestreams files are rebuilt from every release index (read-only) and written under streams/v1/ only.');
    props.store.grantInvalidation(role);
  }
}
