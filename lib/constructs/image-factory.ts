import { Duration, RemovalPolicy, Stack, Tags } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { ARCHITECTURES, Architecture, DEFAULT_ARCHITECTURE, archNameField } from '../core/architecture';
import { FACTORY_TAG, IMAGE_TAG, buildProjectName, cleanupProjectName, pipelineName } from '../core/factory-tags';
import { BuildType } from '../recipes/schema';
import { ImageBuildOptions } from './build-options';
import { BuilderAsset } from './builder-asset';
import { ImageBuildPipeline } from './image-build-pipeline';
import { ImageBuildProject } from './image-build-project';
import { ImageCleanupProject } from './image-cleanup-project';
import { IImageStore, ImageStore } from './image-store';
import { acknowledge } from './nag';
import { RecipeSource } from './recipe-source';
import { scheduleInterval } from './schedule-interval';
import { invalidProps } from './validation';

export { FACTORY_TAG, IMAGE_TAG } from '../core/factory-tags';

export interface ImageFactoryProps extends ImageBuildOptions {
  /** Where the recipes come from. @default RecipeSource.bundled() */
  readonly recipes?: RecipeSource;
  /** Build only these recipes. @default every recipe of the catalog */
  readonly images?: string[];
  /** Build only these distributions (of those each recipe allows). @default all */
  readonly distributions?: string[];
  /**
   * Build only these architectures (of those each recipe allows): a project is made per
   * recipe and architecture, arm64 ones on ARM compute.
   * @default every architecture each recipe allows (its `architectures`, amd64 when absent)
   */
  readonly architectures?: Architecture[];
  /**
   * Names the factory's resources and tags them with FACTORY_TAG: build projects
   * `<name>-<recipe>`, the cleanup project `<name>_cleanup`, the pipeline `<name>-pipeline`,
   * the ECR repository `<name>/<organization>` (lower case). Two factories in one account
   * (staging, production) need two names; `trigger --factory <name>` finds one.
   * @default the stack's name
   */
  readonly factoryName?: string;
  /** Publish into an existing store (another app's) instead of making one. @default a new ImageStore */
  readonly store?: IImageStore;
  /** Start the pipeline on this schedule. @default none (start it with `trigger --all`) */
  readonly schedule?: events.Schedule;
  /** Retention: newest images kept per (name, distribution, extension). @default 10 */
  readonly numToKeep?: number;
  /** Retention: delete images older than this (the newest numToKeep still stay). @default none */
  readonly daysToKeep?: number;
  /** Told about failed pipelines. @default a KMS-encrypted topic the factory creates */
  readonly notificationTopic?: sns.ITopic;
  /** Subscriptions added to the notification topic (e-mail, a queue, a chat hook...). @default none */
  readonly notificationSubscriptions?: sns.ITopicSubscription[];
  /** CodeBuild compute per build type of the amd64 projects. @default lxd/docker MEDIUM, bare_metal/ami LARGE */
  readonly computeType?: Partial<Record<BuildType, codebuild.ComputeType>>;
  /** CodeBuild compute of the arm64 projects (ARM_CONTAINER: SMALL or LARGE in every region that has it). @default LARGE */
  readonly arm64ComputeType?: codebuild.ComputeType;
  /** Builds running at the same time. @default 4 */
  readonly maxConcurrency?: number;
  /** The time limit of one build. @default 2 hours */
  readonly buildTimeout?: Duration;
  /** Extra attempts of a build that failed for a transient reason (see ImageBuildPipeline). @default 2 */
  readonly retries?: number;
  /** The wait before the first retry; it doubles each time. @default 1 minute */
  readonly retryInterval?: Duration;
  /** The pipeline's time limit. @default grows with the number of builds (see ImageBuildPipeline) */
  readonly pipelineTimeout?: Duration;
  /** A custom domain for the distribution (needs `certificate`, in us-east-1); only with a store the factory makes. @default none */
  readonly domainNames?: string[];
  /** The certificate of `domainNames`. @default none */
  readonly certificate?: acm.ICertificate;
  /** Limit downloads by country. @default none */
  readonly geoRestriction?: cloudfront.GeoRestriction;
  /** A WAF web ACL in front of the distribution. @default none */
  readonly webAclId?: string;
  /** The removal policy of the image and log buckets of a store the factory makes. @default RETAIN: images outlive the stack */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * The build cache bucket's removal policy. With DESTROY its objects are deleted with the
   * stack (a small custom resource empties the bucket first).
   * @default DESTROY
   */
  readonly cacheRemovalPolicy?: RemovalPolicy;
}

const FACTORY_NAME = /^[A-Za-z][A-Za-z0-9-]{0,62}$/;

/**
 * The image factory most users need: an ImageStore (S3 + CloudFront), one
 * ImageBuildProject per recipe and architecture, a cleanup project, and an
 * ImageBuildPipeline that builds every recipe x distribution x architecture in parallel and
 * notifies on failure. The recipe names and their os_versions/architectures/build_type are
 * read from the catalog at synth time.
 */
export class ImageFactory extends Construct {
  readonly store: IImageStore;
  /** Build projects by recipe name for amd64 (`webapp`), by `<recipe>-<arch>` for the others (`webapp-arm64`). */
  readonly projects: Record<string, ImageBuildProject>;
  readonly cleanup: ImageCleanupProject;
  readonly pipeline: ImageBuildPipeline;
  readonly topic: sns.ITopic;
  readonly repository: ecr.IRepository | undefined;
  /** Holds CodeBuild's cache, a prefix per recipe and distribution. */
  readonly cacheBucket: s3.Bucket;
  /** In alarm when a pipeline execution failed (a build, the cleanup, or the pipeline itself). */
  readonly failureAlarm: cloudwatch.Alarm;
  readonly factoryName: string;
  readonly organization: string;
  readonly releaseLabel: string;

  constructor(scope: Construct, id: string, props: ImageFactoryProps = {}) {
    super(scope, id);
    const recipes = props.recipes ?? RecipeSource.bundled();
    const catalog = recipes.catalog();
    const common = catalog.common;
    this.factoryName = props.factoryName ?? Stack.of(this).stackName;
    if (!FACTORY_NAME.test(this.factoryName)) {
      throw invalidProps(this, 'FactoryName', `factoryName "${this.factoryName}" must be a letter, then up to 62 letters, digits or "-"`);
    }
    this.organization = props.organization ?? common.organization;
    // As create_image does: the label defaults to the release track.
    this.releaseLabel = props.releaseLabel ?? common.release_label ?? props.releaseTrack ?? common.release_track;
    const releaseLabels = props.releaseLabels?.filter((label) => label !== this.releaseLabel);

    const summaries = recipes.summaries();
    const wanted = props.images ?? summaries.map((s) => s.name);
    const unknown = wanted.filter((name) => !summaries.some((s) => s.name === name));
    if (unknown.length) {
      throw invalidProps(this, 'UnknownImage',
        `unknown image(s) ${unknown.join(', ')} in ${catalog.source} (known: ${summaries.map((s) => s.name).join(', ')})`);
    }
    const selected = summaries
      .filter((s) => wanted.includes(s.name))
      .map((s) => ({
        ...s,
        distributions: s.distributions.filter((d) => !props.distributions || props.distributions.includes(d)),
        architectures: (s.architectures ?? [DEFAULT_ARCHITECTURE]).filter((a) => !props.architectures || props.architectures.includes(a)),
      }))
      .filter((s) => s.distributions.length > 0 && s.architectures.length > 0);
    if (selected.length === 0) throw invalidProps(this, 'NoBuilds', 'no recipe allows any of the selected distributions and architectures');

    if (props.store && (props.domainNames || props.certificate || props.geoRestriction || props.webAclId)) {
      throw invalidProps(this, 'ImportedStore', 'domainNames, certificate, geoRestriction and webAclId belong to the store; an existing store keeps its own');
    }
    const ownStore = props.store ? undefined : new ImageStore(this, 'Store', {
      domainNames: props.domainNames,
      certificate: props.certificate,
      geoRestriction: props.geoRestriction,
      webAclId: props.webAclId,
      removalPolicy: props.removalPolicy,
    });
    this.store = props.store ?? ownStore!;

    const cacheRemovalPolicy = props.cacheRemovalPolicy ?? RemovalPolicy.DESTROY;
    this.cacheBucket = new s3.Bucket(this, 'BuildCache', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: ownStore?.logBucket,
      serverAccessLogsPrefix: ownStore ? 'build-cache/' : undefined,
      lifecycleRules: [{ expiration: Duration.days(30), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      removalPolicy: cacheRemovalPolicy,
      autoDeleteObjects: cacheRemovalPolicy === RemovalPolicy.DESTROY,
    });
    if (!ownStore) {
      acknowledge(this.cacheBucket, 'AwsSolutions-S1',
        'The build cache holds only CodeBuild\'s own cache archives, written and read by this factory\'s builds; with an existing store there is no log bucket of the factory\'s to send access logs to.');
    }

    const dockerRegistry = props.dockerRegistry ?? common.docker_registry;
    const needsRegistry = selected.some((s) => s.buildType === 'docker');
    const namespace = this.factoryName.toLowerCase();
    let madeRegistry: string | undefined;
    if (!props.repository && needsRegistry && !dockerRegistry) {
      const repository = new ecr.Repository(this, 'Repository', {
        repositoryName: `${namespace}/${this.organization.toLowerCase()}`,
        imageScanOnPush: true,
        imageTagMutability: ecr.TagMutability.MUTABLE,
        encryption: ecr.RepositoryEncryption.KMS,
        lifecycleRules: [{ maxImageCount: 100 }],
      });
      this.repository = repository;
      // The builder pushes to <registry>/<organization>: the factory's name is the registry's path.
      madeRegistry = `${repository.registryUri}/${namespace}`;
      for (const recipe of selected) {
        if (recipe.buildType === 'docker' && recipe.dockerRepository && recipe.dockerRepository.toLowerCase() !== this.organization.toLowerCase()) {
          throw invalidProps(this, 'DockerRepository',
            `recipe ${recipe.name} pushes to repository "${recipe.dockerRepository}", but the factory's ECR repository holds "${this.organization.toLowerCase()}" (give dockerRegistry or repository)`);
        }
      }
    } else {
      this.repository = props.repository;
    }

    const builder = new BuilderAsset(this, 'Builder', { recipes });
    const cacheMaxAge = props.cacheMaxAge ?? (() => {
      const interval = props.schedule ? scheduleInterval(props.schedule) : undefined;
      return interval ? Duration.hours(interval.toHours({ integral: false }) + 12) : undefined;
    })();

    this.projects = {};
    // amd64 projects keep the ids and names they always had: Build-<recipe>, <factory>-<recipe>.
    for (const recipe of selected) for (const architecture of recipe.architectures) {
      const nameField = archNameField(recipe.name, architecture);
      const project = new ImageBuildProject(this, `Build-${nameField}`, {
        ...props,
        recipe,
        architecture,
        store: this.store,
        builder,
        recipes,
        organization: this.organization,
        releaseLabel: this.releaseLabel,
        releaseLabels,
        releaseTrack: props.releaseTrack ?? common.release_track,
        flavour: props.flavour ?? common.flavour,
        aptRepo: props.aptRepo ?? common.apt_repo,
        dockerRegistry: recipe.buildType === 'docker' ? dockerRegistry ?? madeRegistry : dockerRegistry,
        repository: recipe.buildType === 'docker' ? this.repository : undefined,
        mirror: props.mirror ?? common.mirror,
        cacheBucket: this.cacheBucket,
        cacheMaxAge,
        computeType: architecture === DEFAULT_ARCHITECTURE ? props.computeType?.[recipe.buildType] : props.arm64ComputeType,
        timeout: props.buildTimeout,
        projectName: this.physicalName(buildProjectName(this.factoryName, nameField)),
      });
      Tags.of(project).add(IMAGE_TAG, recipe.name);
      this.projects[nameField] = project;
    }

    this.cleanup = new ImageCleanupProject(this, 'Cleanup', {
      store: this.store,
      builder,
      organization: this.organization,
      releaseLabel: this.releaseLabel,
      releaseLabels,
      numToKeep: props.numToKeep,
      daysToKeep: props.daysToKeep,
      amis: selected.some((recipe) => recipe.buildType === 'ami'),
      signingKey: props.signingKey,
      vpc: props.vpc,
      subnetSelection: props.subnetSelection,
      securityGroups: props.securityGroups,
      projectName: this.physicalName(cleanupProjectName(this.factoryName)),
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
    for (const subscription of props.notificationSubscriptions ?? []) this.topic.addSubscription(subscription);

    this.pipeline = new ImageBuildPipeline(this, 'Pipeline', {
      projects: Object.values(this.projects),
      cleanup: this.cleanup,
      topic: this.topic,
      maxConcurrency: props.maxConcurrency,
      retries: props.retries,
      retryInterval: props.retryInterval,
      timeout: props.pipelineTimeout,
      schedule: props.schedule,
      stateMachineName: this.physicalName(pipelineName(this.factoryName)),
    });

    this.failureAlarm = new cloudwatch.Alarm(this, 'FailureAlarm', {
      alarmDescription: `tailor-image factory ${this.factoryName}: a pipeline execution failed (see the notification topic and the build logs)`,
      metric: this.pipeline.metricFailedExecutions({ period: Duration.hours(1) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    Tags.of(this).add(FACTORY_TAG, this.factoryName);
  }

  /** A CodeBuild project or state machine name, checked. */
  private physicalName(name: string): string {
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]{1,79}$/.test(name)) {
      throw invalidProps(this, 'PhysicalName', `"${name}" is not a valid CodeBuild project or state machine name (at most 80 letters, digits, "-" or "_")`);
    }
    return name;
  }

  /**
   * Everything `trigger` needs: start and follow builds of the factory's projects, start
   * and follow the pipeline, and check the factory tag of what it found.
   */
  grantTrigger(grantee: iam.IGrantable): iam.Grant {
    for (const project of Object.values(this.projects)) project.grantStartBuild(grantee);
    // `trigger --name <image>` without --arch looks up the image's project of every
    // architecture; reading the names of those this factory did not make answers "not found".
    const made = new Set(Object.values(this.projects).map((project) => project.nameField));
    const unmade = [...new Set(Object.values(this.projects).map((project) => project.recipe.name))]
      .flatMap((name) => ARCHITECTURES.map((arch) => archNameField(name, arch)))
      .filter((field) => !made.has(field));
    if (unmade.length > 0) {
      iam.Grant.addToPrincipal({
        grantee,
        actions: ['codebuild:BatchGetProjects'],
        resourceArns: unmade.map((field) => Stack.of(this).formatArn({ service: 'codebuild', resource: 'project', resourceName: buildProjectName(this.factoryName, field) })),
      });
    }
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['states:ListTagsForResource'],
      resourceArns: [this.pipeline.stateMachine.stateMachineArn],
    });
    return this.pipeline.grantStartExecution(grantee);
  }

  /** Reading the published images: one release, or every release. */
  grantRead(grantee: iam.IGrantable, releaseLabel?: string): iam.Grant {
    return this.store.grantRead(grantee, releaseLabel);
  }

  /** Failed builds of every project, summed (CodeBuild's FailedBuilds). */
  metricFailedBuilds(props?: cloudwatch.MathExpressionOptions): cloudwatch.IMetric {
    const projects = Object.values(this.projects);
    const usingMetrics = Object.fromEntries(projects.map((p, i) => [`failed${i}`, p.metricFailedBuilds({ period: props?.period })]));
    return new cloudwatch.MathExpression({
      expression: projects.map((_, i) => `FILL(failed${i}, 0)`).join(' + '),
      usingMetrics,
      label: 'failed image builds',
      ...props,
    });
  }
}
