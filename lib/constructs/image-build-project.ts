import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { Architecture, DEFAULT_ARCHITECTURE, archNameField } from '../core/architecture';
import { parseS3Url } from '../core/s3-location';
import { bundleFlavour } from '../recipes/flavour';
import { BuildType } from '../recipes/schema';
import { ImageBuildOptions } from './build-options';
import { BuilderAsset } from './builder-asset';
import { IImageStore, ImageStore } from './image-store';
import { acknowledge, acknowledgeWildcards } from './nag';
import { grantAmiPublish } from './ami-grants';
import { loadBuildSpec, makeTailorProject } from './project-base';
import { RecipeSource, RecipeSummary } from './recipe-source';
import { invalidProps } from './validation';

/** Debian packages the CodeBuild image needs, per build type (the standard image has the rest). */
export const HOST_PACKAGES: Readonly<Record<BuildType, string[]>> = {
  // The test gate boots lxd rootfs with systemd under podman where LXD cannot run (CodeBuild).
  lxd: ['podman', 'runc'],
  // The test gate boots disks under QEMU (TCG), runs docker images in podman (runc).
  bare_metal: ['fdisk', 'dosfstools', 'mtools', 'e2fsprogs', 'qemu-system-x86', 'ovmf'],
  docker: ['skopeo', 'podman', 'runc'],
  // The EC2-ready disk is the bare-metal disk (and the gate boots it the same way); the AMI publish needs nothing more on the host.
  ami: ['fdisk', 'dosfstools', 'mtools', 'e2fsprogs', 'qemu-system-x86', 'ovmf'],
};
/**
 * What the test gate needs on an arm64 host instead of the amd64 packages: it boots an arm64
 * disk under qemu-system-aarch64 (in qemu-system-arm) with the AAVMF firmware (qemu-efi-aarch64).
 * GRUB's arm64-efi files go into the image's own rootfs, not the host.
 */
const ARM64_HOST_PACKAGES: Readonly<Record<string, string>> = { 'qemu-system-x86': 'qemu-system-arm', ovmf: 'qemu-efi-aarch64' };

/** The host packages of a build type's project for an architecture. */
export function hostPackagesFor(buildType: BuildType, architecture: Architecture): string[] {
  const packages = HOST_PACKAGES[buildType];
  return architecture === 'arm64' ? packages.map((name) => ARM64_HOST_PACKAGES[name] ?? name) : [...packages];
}

/** ubuntu-keyring is part of every Ubuntu system (the CodeBuild image); Debian's keyring is added. */
const COMMON_HOST_PACKAGES = [
  'mmdebstrap', 'debian-archive-keyring', 'arch-test', 'gnupg', 'pigz', 'xz-utils', 'zstd', 'tar', 'attr',
];

/** Default compute per build type: disks are assembled and xz-compressed, so they get more. */
export const DEFAULT_COMPUTE: Readonly<Record<BuildType, codebuild.ComputeType>> = {
  lxd: codebuild.ComputeType.MEDIUM,
  bare_metal: codebuild.ComputeType.LARGE,
  docker: codebuild.ComputeType.MEDIUM,
  ami: codebuild.ComputeType.LARGE,
};

/**
 * arm64 projects run on ARM_CONTAINER compute, which on demand offers SMALL and LARGE in every
 * region that has it (MEDIUM and bigger only in some): LARGE for every build type.
 */
export const DEFAULT_ARM64_COMPUTE = codebuild.ComputeType.LARGE;

/**
 * The arm64 projects' build image. CodeBuild's own aarch64 images are all Amazon Linux (dnf,
 * no mmdebstrap or Debian keyrings) and it has no aarch64 Ubuntu image like the amd64
 * projects' standard:8.0, so arm64 builds run in the Node.js project's official Debian 12
 * image (Node 22, what the amd64 buildspec asks for, preinstalled; apt; the Debian release
 * the builder's CI runs on), pulled from ECR Public's copy of Docker's official images. A
 * custom image has no `runtime-versions`, so arm64 projects run build-image.yml without it.
 */
export const ARM64_BUILD_IMAGE_NAME = 'public.ecr.aws/docker/library/node:22-bookworm';

/** Where the builder keeps its bootstrap cache; the buildspec caches this path in S3. */
export const BUILD_CACHE_DIR = '/var/cache/tailor-image';

/** Variables the project sets itself: a secret may not take one of these names. */
const PROJECT_VARIABLES = [
  'IMAGE_NAME', 'BUILD_TYPE', 'DISTRIBUTION', 'DISTRIBUTIONS', 'ORGANIZATION', 'RELEASE_LABEL', 'RELEASE_LABELS',
  'RELEASE_TRACK', 'FLAVOUR', 'IMAGE_BUCKET', 'IMAGE_URL', 'CLOUDFRONT_DISTRIBUTION_ID', 'APT_REPO', 'DOCKER_REGISTRY',
  'MIRROR', 'TIMESTAMP', 'CATALOG_ARGS', 'HOST_PACKAGES', 'TAILOR_IMAGE_CACHE_DIR', 'CACHE_MAX_AGE_HOURS', 'CACHE_LOCATION', 'APT_REPO_KEY', 'AMI_COPY_TO', 'AMI_SHARE_WITH',
  'SIGNING_KEY', 'ARCHITECTURE', 'RUN_STARTED',
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
  /**
   * The architecture this project builds (one of the recipe's): amd64 projects run on x86_64
   * compute as before; arm64 projects on ARM compute (ARM_CONTAINER, `arm64BuildImage`), with
   * ARCHITECTURE=arm64 passed to create_image as `--arch`.
   * @default 'amd64'
   */
  readonly architecture?: Architecture;
  /** The CodeBuild compute type. @default DEFAULT_COMPUTE for the recipe's build type (amd64), DEFAULT_ARM64_COMPUTE (arm64) */
  readonly computeType?: codebuild.ComputeType;
  /** The time limit of one build. @default 2 hours */
  readonly timeout?: Duration;
  /** The CodeBuild project's name. @default a name CloudFormation generates */
  readonly projectName?: string;
  /** More plain environment variables (each overridable per build). @default none */
  readonly environment?: Record<string, string>;
}

/**
 * One privileged CodeBuild project per recipe and architecture. Every build runs buildspecs/build-image.yml
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
  /** The architecture it builds for. */
  readonly architecture: Architecture;
  /** The recipe's name for amd64, `<recipe>-<arch>` otherwise (as in image names): its cache prefix and its key in ImageFactory.projects. */
  readonly nameField: string;
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
    const architecture = props.architecture ?? DEFAULT_ARCHITECTURE;
    const allowed = recipe.architectures ?? [DEFAULT_ARCHITECTURE];
    if (!allowed.includes(architecture)) {
      throw invalidProps(this, 'Architecture', `recipe ${recipe.name} is not built for ${architecture} (its architectures: ${allowed.join(', ')})`);
    }
    this.architecture = architecture;
    this.nameField = archNameField(recipe.name, architecture);
    const arm = architecture === 'arm64';
    this.releaseLabels = [...new Set([props.releaseLabel, ...(props.releaseLabels ?? [])])];
    for (const label of this.releaseLabels) ImageStore.releasePrefix(label, this);
    this.timeout = props.timeout ?? Duration.hours(2);

    const plain = (value: string): codebuild.BuildEnvironmentVariable => ({ value });
    const hostPackages = [...COMMON_HOST_PACKAGES, ...hostPackagesFor(recipe.buildType, architecture)];
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
      // amd64 projects set nothing new (create_image's default), so their environment is what it was.
      ...(arm ? { ARCHITECTURE: plain(architecture) } : {}),
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
      CACHE_LOCATION: plain(props.cacheBucket ? `${props.cacheBucket.bucketName}/${this.nameField}` : ''),
      AMI_COPY_TO: plain((props.amiCopyRegions ?? []).join(',')),
      AMI_SHARE_WITH: plain((props.amiShareAccounts ?? []).join(',')),
      CACHE_MAX_AGE_HOURS: plain(props.cacheMaxAge ? String(Math.max(1, Math.ceil(props.cacheMaxAge.toHours({ integral: false })))) : ''),
    };
    for (const [name, value] of Object.entries(props.environment ?? {})) env[name] = plain(value);
    const secrets = this.secretsOf(props);
    for (const [name, secret] of secrets) env[name] = secret.environmentVariable();
    if (props.aptRepoKey) env.APT_REPO_KEY = props.aptRepoKey.environmentVariable();
    if (props.signingKey) env.SIGNING_KEY = props.signingKey.environmentVariable();

    const made = makeTailorProject(this, {
      projectName: props.projectName,
      description: `tailor-image: builds ${recipe.name} (${recipe.buildType}${arm ? `, ${architecture}` : ''}) for ${recipe.distributions.join(', ')}`,
      asset: props.builder.asset,
      // A custom image has no runtime-versions (CodeBuild refuses them there); its Node is preinstalled.
      buildSpec: loadBuildSpec('build-image.yml', arm ? (spec) => { delete spec.phases.install['runtime-versions']; } : undefined),
      buildImage: arm ? props.arm64BuildImage ?? codebuild.LinuxArmBuildImage.fromDockerRegistry(ARM64_BUILD_IMAGE_NAME) : undefined,
      computeType: props.computeType ?? (arm ? DEFAULT_ARM64_COMPUTE : DEFAULT_COMPUTE[recipe.buildType]),
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
    if (arm) {
      acknowledge(this.project, 'AwsSolutions-CB5', props.arm64BuildImage
        ? 'The arm64 build image was chosen by the factory\'s owner (arm64BuildImage): CodeBuild provides no aarch64 image with apt.'
        : 'CodeBuild provides no aarch64 image with apt (its ARM images are Amazon Linux): arm64 builds run in the official Node.js image on Debian 12 (ECR Public), which has the Debian tools the builder needs.');
    }

    for (const label of this.releaseLabels) store.grantPublish(role, label);
    acknowledgeWildcards(role, { resources: this.releaseLabels.map((label) => store.releaseObjectsArn(label)) },
      'Images are written under the release prefix with names known only at build time (timestamped).');
    acknowledgeWildcards(role, { resources: [store.indexObjectsArn(), store.streamsObjectsArn()] },
      'The simplestreams files are rebuilt from every release index (read-only) and written under streams/v1/ only.');

    store.grantInvalidation(role);
    if (recipe.buildType === 'ami') {
      grantAmiPublish(role, { releaseLabels: this.releaseLabels, copyRegions: props.amiCopyRegions, share: (props.amiShareAccounts ?? []).length > 0 });
    }
    if (props.aptRepo?.startsWith('s3://')) this.grantAptRepository(role, props.aptRepo);

    if (props.repository) {
      props.repository.grantPullPush(role);
      acknowledgeWildcards(role, { resources: ['*'] },
        'ecr:GetAuthorizationToken has no resource-level permissions; pushes are limited to the one repository.');
    }
    for (const [, secret] of secrets) secret.grantRead(role);
    props.aptRepoKey?.grantRead(role);
    props.signingKey?.grantRead(role);

    if (props.cacheBucket) {
      const bucket = props.cacheBucket;
      this.useCache(bucket, this.nameField);
      this.cacheLocation = (distribution) => `${bucket.bucketName}/${this.nameField}/${distribution}`;
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

  /** CodeBuild's S3 cache, narrowed to this recipe's (and architecture's) prefix (Cache.bucket would grant the whole bucket). */
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
