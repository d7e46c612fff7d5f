import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as events from 'aws-cdk-lib/aws-events';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { BuildType } from '../recipes/schema';
import { BuilderAsset } from './builder-asset';
import { BuildSecret } from './build-secret';
import { ImageBuildPipeline } from './image-build-pipeline';
import { ImageBuildProject } from './image-build-project';
import { ImageCleanupProject } from './image-cleanup-project';
import { ImageStore } from './image-store';
import { RecipeSource } from './recipe-source';

export interface ImageFactoryProps {
  /** Where the recipes come from. @default RecipeSource.bundled() */
  readonly recipes?: RecipeSource;
  /** Build only these recipes. @default every recipe of the catalog */
  readonly images?: string[];
  /** Build only these distributions (of those each recipe allows). @default all */
  readonly distributions?: string[];
  /** @default the catalog's common organization */
  readonly organization?: string;
  /** The release images are published under (`<label>/images/`). @default the catalog's, else the release track */
  readonly releaseLabel?: string;
  /** @default the catalog's common release_track */
  readonly releaseTrack?: string;
  /** The org bundle flavour. @default the catalog's */
  readonly flavour?: string;
  /** The org APT repository with the bundle. @default the catalog's apt_repo, else none */
  readonly aptRepo?: string;
  /** Push docker images here. @default the catalog's docker_registry, else an ECR repository the factory creates */
  readonly dockerRegistry?: string;
  /** Push docker images to this ECR repository (named like the organization). */
  readonly repository?: ecr.IRepository;
  /** Start the pipeline on this schedule. @default none (start it with `trigger --all`) */
  readonly schedule?: events.Schedule;
  /** Retention: newest images kept per (name, distribution, extension). @default 10 */
  readonly numToKeep?: number;
  /** Retention: delete images older than this (the newest numToKeep still stay). @default none */
  readonly daysToKeep?: number;
  /** Told about failed pipelines. @default a KMS-encrypted topic the factory creates */
  readonly notificationTopic?: sns.ITopic;
  /** CodeBuild compute per build type. @default lxd/docker MEDIUM, bare_metal LARGE */
  readonly computeType?: Partial<Record<BuildType, codebuild.ComputeType>>;
  /** Builds running at the same time. @default 4 */
  readonly maxConcurrency?: number;
  /** @default 2 hours */
  readonly buildTimeout?: Duration;
  /** Run builds inside this VPC. @default none */
  readonly vpc?: ec2.IVpc;
  readonly subnetSelection?: ec2.SubnetSelection;
  /** A custom domain for the distribution (needs `certificate`, in us-east-1). */
  readonly domainNames?: string[];
  readonly certificate?: acm.ICertificate;
  readonly geoRestriction?: cloudfront.GeoRestriction;
  readonly webAclId?: string;
  /** The image user's password (hash), as USER_PASSWORD. */
  readonly userPassword?: BuildSecret;
  /** The org repository's signing key, as APT_REPO_KEY. */
  readonly aptRepoKey?: BuildSecret;
  /** Archive to bootstrap from instead of each distribution's default. */
  readonly mirror?: string;
  /** CodeBuild project names are `<prefix>-<recipe>` (what `trigger --prefix` finds). @default "tailor-image" */
  readonly projectPrefix?: string;
  /** @default RETAIN for the image and log buckets */
  readonly removalPolicy?: RemovalPolicy;
}

const PROJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{1,200}$/;

/**
 * The image factory most users need: an ImageStore (S3 + CloudFront), one
 * ImageBuildProject per recipe, a cleanup project, and an ImageBuildPipeline that builds
 * every recipe x distribution in parallel and notifies on failure. The recipe names and
 * their os_versions/build_type are read from the catalog at synth time.
 */
export class ImageFactory extends Construct {
  readonly store: ImageStore;
  /** Build projects by recipe name. */
  readonly projects: Record<string, ImageBuildProject>;
  readonly cleanup: ImageCleanupProject;
  readonly pipeline: ImageBuildPipeline;
  readonly topic: sns.ITopic;
  readonly repository: ecr.IRepository | undefined;
  /** Holds CodeBuild's package cache, a prefix per recipe. */
  readonly cacheBucket: s3.Bucket;
  readonly organization: string;
  readonly releaseLabel: string;

  constructor(scope: Construct, id: string, props: ImageFactoryProps = {}) {
    super(scope, id);
    const recipes = props.recipes ?? RecipeSource.bundled();
    const catalog = recipes.catalog();
    const common = catalog.common;
    this.organization = props.organization ?? common.organization;
    // As create_image does: the label defaults to the release track.
    this.releaseLabel = props.releaseLabel ?? common.release_label ?? props.releaseTrack ?? common.release_track;
    const prefix = props.projectPrefix ?? 'tailor-image';

    const summaries = recipes.summaries();
    const wanted = props.images ?? summaries.map((s) => s.name);
    const unknown = wanted.filter((name) => !summaries.some((s) => s.name === name));
    if (unknown.length) {
      throw new Error(`ImageFactory: unknown image(s) ${unknown.join(', ')} in ${catalog.source} (known: ${summaries.map((s) => s.name).join(', ')})`);
    }
    const selected = summaries
      .filter((s) => wanted.includes(s.name))
      .map((s) => ({
        ...s,
        distributions: s.distributions.filter((d) => !props.distributions || props.distributions.includes(d)),
        usesAnsible: catalog.recipe(s.name).ansible !== undefined,
      }))
      .filter((s) => s.distributions.length > 0);
    if (selected.length === 0) throw new Error('ImageFactory: no recipe allows any of the selected distributions');

    this.store = new ImageStore(this, 'Store', {
      domainNames: props.domainNames,
      certificate: props.certificate,
      geoRestriction: props.geoRestriction,
      webAclId: props.webAclId,
      removalPolicy: props.removalPolicy,
    });

    this.cacheBucket = new s3.Bucket(this, 'BuildCache', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.store.logBucket,
      serverAccessLogsPrefix: 'build-cache/',
      lifecycleRules: [{ expiration: Duration.days(30), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: false,
    });

    const dockerRegistry = props.dockerRegistry ?? common.docker_registry;
    const needsRegistry = selected.some((s) => s.buildType === 'docker');
    this.repository = props.repository ?? (needsRegistry && !dockerRegistry
      ? new ecr.Repository(this, 'Repository', {
        repositoryName: this.organization.toLowerCase(),
        imageScanOnPush: true,
        imageTagMutability: ecr.TagMutability.MUTABLE,
        encryption: ecr.RepositoryEncryption.KMS,
        lifecycleRules: [{ maxImageCount: 100 }],
      })
      : undefined);

    const builder = new BuilderAsset(this, 'Builder', { recipes });
    // Build projects are `<prefix>-<recipe>` (what `trigger` looks for); the cleanup project
    // is `<prefix>_cleanup`: "_" never appears in a recipe name, so the two cannot clash.
    const projectName = (separator: '-' | '_', suffix: string) => {
      const name = `${prefix}${separator}${suffix}`;
      if (!PROJECT_NAME.test(name)) throw new Error(`ImageFactory: "${name}" is not a valid CodeBuild project name`);
      return name;
    };

    this.projects = {};
    for (const recipe of selected) {
      this.projects[recipe.name] = new ImageBuildProject(this, `Build-${recipe.name}`, {
        recipe,
        store: this.store,
        builder,
        recipes,
        organization: this.organization,
        releaseLabel: this.releaseLabel,
        releaseTrack: props.releaseTrack ?? common.release_track,
        flavour: props.flavour ?? common.flavour,
        aptRepo: props.aptRepo ?? common.apt_repo,
        dockerRegistry,
        repository: recipe.buildType === 'docker' ? this.repository : undefined,
        mirror: props.mirror ?? common.mirror,
        userPassword: props.userPassword,
        aptRepoKey: props.aptRepoKey,
        cacheBucket: this.cacheBucket,
        computeType: props.computeType?.[recipe.buildType],
        timeout: props.buildTimeout,
        vpc: props.vpc,
        subnetSelection: props.subnetSelection,
        projectName: projectName('-', recipe.name),
      });
    }

    this.cleanup = new ImageCleanupProject(this, 'Cleanup', {
      store: this.store,
      builder,
      organization: this.organization,
      releaseLabel: this.releaseLabel,
      numToKeep: props.numToKeep,
      daysToKeep: props.daysToKeep,
      vpc: props.vpc,
      subnetSelection: props.subnetSelection,
      projectName: projectName('_', 'cleanup'),
    });

    this.topic = props.notificationTopic ?? new sns.Topic(this, 'Notifications', {
      displayName: 'tailor-image factory',
      enforceSSL: true,
      masterKey: new kms.Key(this, 'NotificationsKey', {
        description: 'tailor-image: notification topic',
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
    });

    this.pipeline = new ImageBuildPipeline(this, 'Pipeline', {
      projects: Object.values(this.projects),
      cleanupProject: this.cleanup.project,
      topic: this.topic,
      maxConcurrency: props.maxConcurrency,
      schedule: props.schedule,
    });
  }
}
