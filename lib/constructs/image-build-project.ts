import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { parseS3Url } from '../core/s3-location';
import { bundleFlavour } from '../recipes/flavour';
import { BuildType } from '../recipes/schema';
import { ImageBuildOptions } from './build-options';
import { BuilderAsset } from './builder-asset';
import { IImageStore, ImageStore } from './image-store';
import { acknowledgeWildcards } from './nag';
import { loadBuildSpec, makeTailorProject } from './project-base';
import { RecipeSource, RecipeSummary } from './recipe-source';
import { invalidProps } from './validation';

/** Debian packages the CodeBuild image needs, per build type (the standard image has the rest). */
export const HOST_PACKAGES: Readonly<Record<BuildType, string[]>> = {
  lxd: [],
  bare_metal: ['fdisk', 'dosfstools', 'mtools', 'e2fsprogs'],
  docker: ['skopeo'],
  ami: ['fdisk', 'dosfstools', 'mtools', 'e2fsprogs'],
};
/** ubuntu-keyring is part of every Ubuntu system (the CodeBuild image); Debian's keyring is added. */
const COMMON_HOST_PACKAGES = [
  'mmdebstrap', 'debian-archive-keyring', 'arch-test', 'gnupg', 'pigz', 'xz-utils', 'zstd', 'tar',
];

/** Default compute per build type: disks are assembled and xz-compressed, so they get more. */
export const DEFAULT_COMPUTE: Readonly<Record<BuildType, codebuild.ComputeType>> = {
  lxd: codebuild.ComputeType.MEDIUM,
  bare_metal: codebuild.ComputeType.LARGE,
  docker: codebuild.ComputeType.MEDIUM,
  ami: codebuild.ComputeType.LARGE,
};

/** Where the builder keeps its bootstrap cache; the buildspec caches this path in S3. */
export const BUILD_CACHE_DIR = '/var/cache/tailor-image';

/** Variables the project sets itself: a secret may not take one of these names. */
const PROJECT_VARIABLES = [
  'IMAGE_NAME', 'BUILD_TYPE', 'DISTRIBUTION', 'DISTRIBUTIONS', 'ORGANIZATION', 'RELEASE_LABEL', 'RELEASE_LABELS',
  'RELEASE_TRACK', 'FLAVOUR', 'IMAGE_BUCKET', 'IMAGE_URL', 'CLOUDFRONT_DISTRIBUTION_ID', 'APT_REPO', 'DOCKER_REGISTRY',
  'MIRROR', 'TIMESTAMP', 'CATALOG_ARGS', 'HOST_PACKAGES', 'TAILOR_IMAGE_CACHE_DIR', 'CACHE_MAX_AGE_HOURS', 'CACHE_LOCATION', 'APT_REPO_KEY',
];

/** The shared options, with the two a project cannot do without (the factory reads them from its catalog) required. */
type ProjectBuildOptions = Omit<ImageBuildOptions, 'organization' | 'releaseLabel'> & Required<Pick<ImageBuildOptions, 'organization' | 'releaseLabel'>>;

export interface ImageBuildProjectProps extends ProjectBuildOptions {
  /** The recipe this project builds (name, build type, allowed distributions, the secrets it reads). */
  readonly recipe: RecipeSummary;
  /** The store images are published into. */
  readonly store: IImageStore;
  /** The bundled builder the project runs. */
  readonly builder: BuilderAsset;
  /** The catalog the recipe comes from (selected by CATALOG_ARGS). */
  readonly recipes: RecipeSource;
  /** A bucket for CodeBuild's cache (the project uses `<recipe>/<distribution>/` in it). @default no cache */
  readonly cacheBucket?: s3.IBucket;
  /** The CodeBuild compute type. @default DEFAULT_COMPUTE for the recipe's build type */
  readonly computeType?: codebuild.ComputeType;
  /** The time limit of one build. @default 2 hours */
  readonly timeout?: Duration;
  /** The CodeBuild project's name. @default a name CloudFormation generates */
  readonly projectName?: string;
  /** More plain environment variables (each overridable per build). @default none */
  readonly environment?: Record<string, string>;
}

/**
 * One privileged CodeBuild project per recipe. Every build runs buildspecs/build-image.yml
 * over the builder asset: `create_image --name <recipe> --distribution $DISTRIBUTION
 * --publish ...`. All flags come from environment variables, so one project builds any
 * of the recipe's distributions (and a build may override any flag).
 *
 * Least privilege: its release prefixes in the bucket (never delete), the org repository's
 * release prefixes when it is in S3, push to the one ECR repository, CreateInvalidation on
 * the store's distribution only, the secrets its recipe reads, its own prefix of the cache
 * bucket, its own log group and KMS key.
 */
export class ImageBuildProject extends Construct {
  readonly project: codebuild.Project;
  readonly encryptionKey: kms.Key;
  readonly logGroup: logs.LogGroup;
  readonly recipe: RecipeSummary;
  /** How long one build may run. */
  readonly timeout: Duration;
  /** The labels a build may publish under: releaseLabel first, then releaseLabels. */
  readonly releaseLabels: string[];
  /** The bucket and prefix of CodeBuild's cache for one distribution, or undefined without a cache bucket. */
  readonly cacheLocation?: (distribution: string) => string;

  constructor(scope: Construct, id: string, props: ImageBuildProjectProps) {
    super(scope, id);
    this.recipe = props.recipe;
    const { recipe, store } = props;
    if (recipe.distributions.length === 0) {
      throw invalidProps(this, 'NoDistribution', `recipe ${recipe.name} allows no distribution`);
    }
    this.releaseLabels = [...new Set([props.releaseLabel, ...(props.releaseLabels ?? [])])];
    for (const label of this.releaseLabels) ImageStore.releasePrefix(label, this);
    this.timeout = props.timeout ?? Duration.hours(2);

    const plain = (value: string): codebuild.BuildEnvironmentVariable => ({ value });
    const hostPackages = [...COMMON_HOST_PACKAGES, ...HOST_PACKAGES[recipe.buildType]];
    if (recipe.usesAnsible) hostPackages.push('ansible');
    const dockerRegistry = props.dockerRegistry ?? props.repository?.registryUri;
    if (recipe.buildType === 'docker' && !dockerRegistry) {
      throw invalidProps(this, 'NoRegistry', `recipe ${recipe.name} builds a docker image: give dockerRegistry or repository`);
    }
    const env: Record<string, codebuild.BuildEnvironmentVariable> = {
      IMAGE_NAME: plain(recipe.name),
      BUILD_TYPE: plain(recipe.buildType),
      DISTRIBUTION: plain(recipe.distributions[0]),
      DISTRIBUTIONS: plain(recipe.distributions.join(' ')),
      ORGANIZATION: plain(props.organization),
      RELEASE_LABEL: plain(props.releaseLabel),
      RELEASE_LABELS: plain(this.releaseLabels.join(' ')),
      RELEASE_TRACK: plain(props.releaseTrack ?? ''),
      // As create_image decides without --flavour (lib/recipes/flavour.ts): the recipe's own first.
      FLAVOUR: plain(bundleFlavour({ name: recipe.name, bundle_flavour: recipe.bundleFlavour }, props.flavour)),
      IMAGE_BUCKET: plain(store.bucket.bucketName),
      IMAGE_URL: plain(store.url ?? ''),
      CLOUDFRONT_DISTRIBUTION_ID: plain(store.distributionId ?? ''),
      APT_REPO: plain(props.aptRepo ?? ''),
      DOCKER_REGISTRY: plain(dockerRegistry ?? ''),
      MIRROR: plain(props.mirror ?? ''),
      TIMESTAMP: plain(''),
      CATALOG_ARGS: plain(props.recipes.cliArguments.join(' ')),
      HOST_PACKAGES: plain(hostPackages.join(' ')),
      TAILOR_IMAGE_CACHE_DIR: plain(BUILD_CACHE_DIR),
      CACHE_LOCATION: plain(props.cacheBucket ? `${props.cacheBucket.bucketName}/${recipe.name}` : ''),
      CACHE_MAX_AGE_HOURS: plain(props.cacheMaxAge ? String(Math.max(1, Math.ceil(props.cacheMaxAge.toHours({ integral: false })))) : ''),
    };
    for (const [name, value] of Object.entries(props.environment ?? {})) env[name] = plain(value);
    const secrets = this.secretsOf(props);
    for (const [name, secret] of secrets) env[name] = secret.environmentVariable();
    if (props.aptRepoKey) env.APT_REPO_KEY = props.aptRepoKey.environmentVariable();

    const made = makeTailorProject(this, {
      projectName: props.projectName,
      description: `tailor-image: builds ${recipe.name} (${recipe.buildType}) for ${recipe.distributions.join(', ')}`,
      asset: props.builder.asset,
      buildSpec: loadBuildSpec('build-image.yml'),
      computeType: props.computeType ?? DEFAULT_COMPUTE[recipe.buildType],
      privileged: true,
      timeout: this.timeout,
      logRetention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      environmentVariables: env,
      vpc: props.vpc,
      subnetSelection: props.subnetSelection,
      securityGroups: props.securityGroups,
    });
    this.project = made.project;
    this.encryptionKey = made.encryptionKey;
    this.logGroup = made.logGroup;
    const role = this.project.role!;

    for (const label of this.releaseLabels) store.grantPublish(role, label);
    acknowledgeWildcards(role, { resources: this.releaseLabels.map((label) => store.releaseObjectsArn(label)) },
      'Images are written under the release prefix with names known only at build time (timestamped).');
    acknowledgeWildcards(role, { resources: [store.indexObjectsArn(), store.streamsObjectsArn()] },
      'The simplestreams files are rebuilt from every release index (read-only) and written under streams/v1/ only.');

    store.grantInvalidation(role);
    if (props.aptRepo?.startsWith('s3://')) this.grantAptRepository(role, props.aptRepo);

    if (props.repository) {
      props.repository.grantPullPush(role);
      acknowledgeWildcards(role, { resources: ['*'] },
        'ecr:GetAuthorizationToken has no resource-level permissions; pushes are limited to the one repository.');
    }
    for (const [, secret] of secrets) secret.grantRead(role);
    props.aptRepoKey?.grantRead(role);

    if (props.cacheBucket) {
      const bucket = props.cacheBucket;
      this.useCache(bucket, recipe.name);
      this.cacheLocation = (distribution) => `${bucket.bucketName}/${recipe.name}/${distribution}`;
    }
  }

  /** The secrets the recipe reads, each by its variable; one the factory was not given fails synth. */
  private secretsOf(props: ImageBuildProjectProps): Array<[string, NonNullable<ImageBuildProjectProps['secrets']>[string]]> {
    const given = props.secrets ?? {};
    for (const name of Object.keys(given)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || PROJECT_VARIABLES.includes(name)) {
        throw invalidProps(this, 'SecretName', `secret "${name}" cannot be an environment variable of the build (not a name, or one the project sets)`);
      }
    }
    return (props.recipe.secretVariables ?? []).map((name) => {
      const secret = given[name];
      if (!secret) {
        throw invalidProps(this, 'MissingSecret',
          `recipe ${props.recipe.name} reads a secret from ${name}, which the factory was not given (secrets: { ${name}: BuildSecret... })`);
      }
      return [name, secret];
    });
  }

  /**
   * Reading the org repository in S3: the objects of every release's repository
   * (`<prefix>/<label>/ubuntu/*`, as create_image reads it) and the listing of that
   * prefix, which tells a missing file (apt falls back) from a refused one.
   */
  private grantAptRepository(role: iam.IRole, aptRepo: string): void {
    let location;
    try {
      location = parseS3Url(aptRepo);
    } catch (error) {
      throw invalidProps(this, 'AptRepo', (error as Error).message);
    }
    const base = location.prefix ? `${location.prefix}/` : '';
    const prefixes = this.releaseLabels.map((label) => `${base}${label}/ubuntu/`);
    const bucketArn = Stack.of(this).formatArn({ service: 's3', region: '', account: '', resource: location.bucket });
    const objects = prefixes.map((prefix) => `${bucketArn}/${prefix}*`);
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: objects }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['s3:ListBucket'],
      resources: [bucketArn],
      conditions: { StringLike: { 's3:prefix': prefixes.map((prefix) => `${prefix}*`) } },
    }));
    acknowledgeWildcards(role, { resources: objects },
      'apt reads the org repository\'s indexes and packages, whose names are known only at build time, under its release prefix only.');
  }

  /** CodeBuild's S3 cache, narrowed to this recipe's prefix (Cache.bucket would grant the whole bucket). */
  private useCache(bucket: s3.IBucket, prefix: string): void {
    const cfn = this.project.node.defaultChild as codebuild.CfnProject;
    // The default distribution's place; every build names its own with cacheOverride.
    cfn.cache = { type: 'S3', location: `${bucket.bucketName}/${prefix}/${this.recipe.distributions[0]}` };
    const objects = bucket.arnForObjects(`${prefix}/*`);
    this.project.addToRolePolicy(new iam.PolicyStatement({
      actions: ['s3:GetObject', 's3:PutObject'],
      resources: [objects],
    }));
    this.project.addToRolePolicy(new iam.PolicyStatement({
      actions: ['s3:GetBucketAcl', 's3:GetBucketLocation'],
      resources: [bucket.bucketArn],
    }));
    acknowledgeWildcards(this.project.role!, { resources: [objects] },
      'The cache archive names are chosen by CodeBuild, under this recipe\'s own cache prefix.');
  }

  /** Starting and following this project's builds (what `trigger --name` does). */
  grantStartBuild(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['codebuild:StartBuild', 'codebuild:StopBuild', 'codebuild:BatchGetBuilds', 'codebuild:BatchGetProjects'],
      resourceArns: [this.project.projectArn],
    });
  }

  /** Failed builds of this project (CodeBuild's FailedBuilds, summed). */
  metricFailedBuilds(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.project.metricFailedBuilds({ statistic: 'Sum', ...props });
  }
}
