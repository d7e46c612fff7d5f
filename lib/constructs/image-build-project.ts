import { Duration } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { BuildType } from '../recipes/schema';
import { BuilderAsset } from './builder-asset';
import { BuildSecret } from './build-secret';
import { ImageStore } from './image-store';
import { acknowledgeWildcards } from './nag';
import { ProjectNetworkProps, loadBuildSpec, makeTailorProject } from './project-base';
import { RecipeSource, RecipeSummary } from './recipe-source';

/** Debian packages the CodeBuild image needs, per build type (the standard image has the rest). */
export const HOST_PACKAGES: Readonly<Record<BuildType, string[]>> = {
  lxd: [],
  bare_metal: ['fdisk', 'dosfstools', 'mtools', 'e2fsprogs'],
  docker: ['skopeo'],
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
};

/** Where the builder keeps its bootstrap cache; the buildspec caches this path in S3. */
export const BUILD_CACHE_DIR = '/var/cache/tailor-image';

export interface ImageBuildProjectProps extends ProjectNetworkProps {
  /** The recipe this project builds (name, build type, allowed distributions). */
  readonly recipe: RecipeSummary & { usesAnsible?: boolean };
  readonly store: ImageStore;
  readonly builder: BuilderAsset;
  readonly recipes: RecipeSource;
  readonly organization: string;
  readonly releaseLabel: string;
  readonly releaseTrack?: string;
  readonly flavour?: string;
  /** The org APT repository holding the bundle (http(s):// or s3://). */
  readonly aptRepo?: string;
  /** The registry docker images are pushed to (`<registry>/<repository>`). */
  readonly dockerRegistry?: string;
  /** An ECR repository the project may push to. */
  readonly repository?: ecr.IRepository;
  /** The archive to bootstrap from, when not the distribution's default. */
  readonly mirror?: string;
  /** Read into USER_PASSWORD (recipes say `password: {env: USER_PASSWORD}`). */
  readonly userPassword?: BuildSecret;
  /** Read into APT_REPO_KEY: the OpenPGP key that signs the org repository. */
  readonly aptRepoKey?: BuildSecret;
  /** A bucket for CodeBuild's cache of downloaded packages (the project uses `<recipe>/` in it). */
  readonly cacheBucket?: s3.IBucket;
  /** @default DEFAULT_COMPUTE for the recipe's build type */
  readonly computeType?: codebuild.ComputeType;
  /** @default 2 hours */
  readonly timeout?: Duration;
  /** @default THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
  /** @default `tailor-image-<recipe>` */
  readonly projectName?: string;
  /** More plain environment variables (each overridable per build). */
  readonly environment?: Record<string, string>;
}

/**
 * One privileged CodeBuild project per recipe. Every build runs buildspecs/build-image.yml
 * over the builder asset: `create_image --name <recipe> --distribution $DISTRIBUTION
 * --publish ...`. All flags come from environment variables, so one project builds any
 * of the recipe's distributions (and a build may override any flag).
 *
 * Least privilege: its release prefix in the bucket (never delete), push to the one ECR
 * repository, CreateInvalidation on the store's distribution only, the two secrets, its
 * own prefix of the cache bucket, its own log group and KMS key.
 */
export class ImageBuildProject extends Construct {
  readonly project: codebuild.Project;
  readonly encryptionKey: kms.Key;
  readonly logGroup: logs.LogGroup;
  readonly recipe: RecipeSummary;

  constructor(scope: Construct, id: string, props: ImageBuildProjectProps) {
    super(scope, id);
    this.recipe = props.recipe;
    const { recipe, store } = props;
    if (recipe.distributions.length === 0) throw new Error(`ImageBuildProject: recipe ${recipe.name} allows no distribution`);

    const plain = (value: string): codebuild.BuildEnvironmentVariable => ({ value });
    const hostPackages = [...COMMON_HOST_PACKAGES, ...HOST_PACKAGES[recipe.buildType]];
    if (recipe.usesAnsible) hostPackages.push('ansible');
    const dockerRegistry = props.dockerRegistry ?? registryOf(props.repository);
    const env: Record<string, codebuild.BuildEnvironmentVariable> = {
      IMAGE_NAME: plain(recipe.name),
      BUILD_TYPE: plain(recipe.buildType),
      DISTRIBUTION: plain(recipe.distributions[0]),
      DISTRIBUTIONS: plain(recipe.distributions.join(' ')),
      ORGANIZATION: plain(props.organization),
      RELEASE_LABEL: plain(props.releaseLabel),
      RELEASE_TRACK: plain(props.releaseTrack ?? ''),
      FLAVOUR: plain(props.flavour ?? ''),
      IMAGE_BUCKET: plain(store.bucket.bucketName),
      IMAGE_URL: plain(store.url),
      CLOUDFRONT_DISTRIBUTION_ID: plain(store.distribution.distributionId),
      APT_REPO: plain(props.aptRepo ?? ''),
      DOCKER_REGISTRY: plain(dockerRegistry ?? ''),
      MIRROR: plain(props.mirror ?? ''),
      TIMESTAMP: plain(''),
      CATALOG_ARGS: plain(props.recipes.cliArguments.join(' ')),
      HOST_PACKAGES: plain(hostPackages.join(' ')),
      TAILOR_IMAGE_CACHE_DIR: plain(BUILD_CACHE_DIR),
    };
    for (const [name, value] of Object.entries(props.environment ?? {})) env[name] = plain(value);
    if (props.userPassword) env.USER_PASSWORD = props.userPassword.environmentVariable();
    if (props.aptRepoKey) env.APT_REPO_KEY = props.aptRepoKey.environmentVariable();

    const made = makeTailorProject(this, {
      projectName: props.projectName ?? `tailor-image-${recipe.name}`,
      description: `tailor-image: builds ${recipe.name} (${recipe.buildType}) for ${recipe.distributions.join(', ')}`,
      asset: props.builder.asset,
      buildSpec: loadBuildSpec('build-image.yml'),
      computeType: props.computeType ?? DEFAULT_COMPUTE[recipe.buildType],
      privileged: true,
      timeout: props.timeout ?? Duration.hours(2),
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

    store.grantPublish(role, props.releaseLabel);
    acknowledgeWildcards(role, { resources: [store.releaseObjectsArn(props.releaseLabel)] },
      'Images are written under the release prefix with names known only at build time (timestamped).');
    acknowledgeWildcards(role, { resources: [store.indexObjectsArn(), store.streamsObjectsArn()] },
      'The simplestreams files are rebuilt from every release index (read-only) and written under streams/v1/ only.');

    store.grantInvalidation(role);

    if (props.repository) {
      props.repository.grantPullPush(role);
      acknowledgeWildcards(role, { resources: ['*'] },
        'ecr:GetAuthorizationToken has no resource-level permissions; pushes are limited to the one repository.');
    }
    props.userPassword?.grantRead(role);
    props.aptRepoKey?.grantRead(role);

    if (props.cacheBucket) this.useCache(props.cacheBucket, recipe.name);
  }

  /** CodeBuild's S3 cache, narrowed to this recipe's prefix (Cache.bucket would grant the whole bucket). */
  private useCache(bucket: s3.IBucket, prefix: string): void {
    const cfn = this.project.node.defaultChild as codebuild.CfnProject;
    cfn.cache = { type: 'S3', location: `${bucket.bucketName}/${prefix}` };
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
}

/** `<account>.dkr.ecr.<region>.<suffix>`; the builder adds the repository (the organization). */
function registryOf(repository: ecr.IRepository | undefined): string | undefined {
  return repository?.registryUri;
}
