import { existsSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { homedir } from 'node:os';
import { BuildRequest } from '../builder/request';
import { Architecture, archNameField, checkArchitecture, checkRecipeName, DEFAULT_ARCHITECTURE } from '../core/architecture';
import { distribution, withUsableKeyring } from '../core/distributions';
import { checkBuildTimestamp, checkNameField, formatTimestamp, imageName } from '../core/naming';
import { UsageError } from '../core/errors';
import { quote } from '../core/message-text';
import { Catalog, DirectoryCatalog, bundledRecipesDir } from '../recipes/catalog';
import { bundleFlavour } from '../recipes/flavour';
import { RosdistroCatalog } from '../recipes/rosdistro';
import { AmiRequest, StorageRequest } from '../storage/request';
import { CreateImageOptions } from './create-image-options';
import { checkAptRepoUrl, checkMirrorUrl } from './url-flags';

export const DEFAULT_WORK_ROOT = '/var/tmp/tailor-image';
export const DEFAULT_IMAGES_DIR = 'images';

function cacheMaxAge(value: string | undefined): number {
  if (value === undefined) return 24;
  const hours = Number(value);
  if (!Number.isFinite(hours) || hours <= 0) throw new UsageError(`--cache-max-age ${quote(value)} is not a positive number of hours`);
  return hours;
}

/** An --allow-source-dir folder, absolute; it must exist. */
function allowedSourceDir(dir: string): string {
  const path = resolve(dir);
  if (!existsSync(path) || !statSync(path).isDirectory()) throw new UsageError(`--allow-source-dir ${dir} is not a folder`);
  return path;
}

/** Opens the catalog the flags name: a rosdistro, a catalog folder, or the bundled one. */
export function openCatalog(options: Pick<CreateImageOptions, 'rosdistroPath' | 'recipesPath'>): Catalog {
  if (options.rosdistroPath && options.recipesPath) {
    throw new UsageError('--rosdistro-path and --recipes-path are exclusive');
  }
  if (options.rosdistroPath) return new RosdistroCatalog(resolve(options.rosdistroPath));
  return new DirectoryCatalog(options.recipesPath ? resolve(options.recipesPath) : bundledRecipesDir());
}

/** --ami-copy-to and --ami-share-with: lists of region names and account ids, only with --publish. */
function amiSettingsFor(options: CreateImageOptions): AmiRequest | undefined {
  const list = (flag: string, value: string | undefined, pattern: RegExp, what: string): string[] | undefined => {
    if (value === undefined) return undefined;
    if (!options.publish) throw new UsageError(`${flag} needs --publish (only a publish registers AMIs)`);
    const items = value.split(',').map((item) => item.trim()).filter((item) => item !== '');
    const bad = items.find((item) => !pattern.test(item));
    if (items.length === 0 || bad !== undefined) throw new UsageError(`${flag} ${quote(bad ?? value)} is not ${what}`);
    return [...new Set(items)];
  };
  const copyToRegions = list('--ami-copy-to', options.amiCopyTo, /^[a-z]{2}(-[a-z]+)+-\d$/, 'a comma-separated list of AWS regions');
  const shareWithAccounts = list('--ami-share-with', options.amiShareWith, /^\d{12}$/, 'a comma-separated list of 12-digit AWS account ids');
  if (!copyToRegions && !shareWithAccounts) return undefined;
  return { ...(copyToRegions ? { copyToRegions } : {}), ...(shareWithAccounts ? { shareWithAccounts } : {}) };
}

/** At most one storage mode; none means build-only (and the caller says so). */
export function storageFor(
  options: CreateImageOptions,
  aptRepo: string | undefined,
  cloudfront?: string,
  commonBucket?: string,
): StorageRequest {
  const chosen = [
    options.buildOnly ? '--build-only' : undefined,
    options.localStorage ? '--local-storage' : undefined,
    options.publish ? '--publish' : undefined,
  ].filter((mode): mode is string => mode !== undefined);
  if (chosen.length > 1) throw new UsageError(`${chosen.join(' and ')} are exclusive: choose one storage mode`);
  if (options.localStoragePath !== undefined && !options.localStorage) {
    throw new UsageError('--local-storage-path needs --local-storage');
  }
  if (options.bucket !== undefined && !options.publish) throw new UsageError('--bucket needs --publish');
  if (options.cloudfrontDistributionId !== undefined && !options.publish) {
    throw new UsageError('--cloudfront-distribution-id needs --publish (only a publish invalidates CloudFront)');
  }
  const ami = amiSettingsFor(options);
  if (options.signingKey !== undefined && !options.publish && !options.localStorage) {
    throw new UsageError('--signing-key needs --local-storage or --publish (a build-only folder has no release to sign)');
  }
  const signing = options.signingKey !== undefined ? { signingKey: resolve(options.signingKey) } : {};
  if (options.publish) {
    let bucket = options.bucket ?? commonBucket;
    if (bucket === undefined) {
      if (!aptRepo?.startsWith('s3://')) {
        throw new UsageError('--publish needs the bucket: --bucket <name> or --apt-repo s3://<bucket> (or bucket/apt_repo in the common configuration)');
      }
      bucket = aptRepo.slice('s3://'.length).split('/')[0];
    }
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new UsageError(`${quote(bucket)} is not an S3 bucket name`);
    return { mode: 'publish', bucket, ...(cloudfront ? { cloudfrontDistributionId: cloudfront } : {}), ...(ami ? { ami } : {}), ...signing };
  }
  if (options.localStorage) return { mode: 'local', path: resolve(options.localStoragePath ?? DEFAULT_IMAGES_DIR), ...signing };
  return { mode: 'build-only', path: resolve(DEFAULT_IMAGES_DIR) };
}

/** What one create_image run does: the images to build, and the one store they all go to. */
export interface ResolvedRun {
  requests: BuildRequest[];
  storage: StorageRequest;
}

/** The --arch values: each valid and given once; amd64 when none is given. */
export function architecturesOf(values: string[] | undefined): Architecture[] {
  const archs = (values ?? [DEFAULT_ARCHITECTURE]).map((value) => checkArchitecture(value));
  const twice = archs.find((arch, i) => archs.indexOf(arch) !== i);
  if (twice !== undefined) throw new UsageError(`--arch ${twice} is given twice`);
  return archs;
}

/**
 * Turns the flags into whole, checked BuildRequests, one per --name and --arch (names
 * outer, architectures inner): every name valid and given once, each image in the catalog,
 * the distribution and architecture allowed by each recipe; all share the timestamp. And
 * the run's one storage mode. Throws UsageError.
 */
export function resolveRun(options: CreateImageOptions, now = new Date()): ResolvedRun {
  const names = options.name.map((name) => checkRecipeName(checkNameField('name', name)));
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice !== undefined) throw new UsageError(`--name ${twice} is given twice`);
  const architectures = architecturesOf(options.arch);
  const catalog = openCatalog(options);
  const timestamp = options.timestamp !== undefined ? checkBuildTimestamp(options.timestamp, now) : formatTimestamp(now);
  const requests = names.flatMap((name) => architectures.map((architecture) => resolveOne(name, architecture, catalog, { ...options, timestamp })));
  const common = catalog.common;
  const storage = storageFor(
    options,
    options.aptRepo ?? common.apt_repo,
    options.cloudfrontDistributionId ?? common.cloudfront_distribution_id,
    typeof common.bucket === 'string' ? common.bucket : undefined,
  );
  const test = testMode(options.test, storage);
  return { requests: requests.map((request) => ({ ...request, test })), storage };
}

/**
 * The test gate for a run: --test forces it, --no-test turns it off; otherwise it is on for
 * images that are stored (local storage, publish) and off for --build-only.
 */
export function testMode(flag: boolean | undefined, storage: StorageRequest): NonNullable<BuildRequest['test']> {
  if (flag === true) return { mode: 'force' };
  if (flag === false) return { mode: 'off', reason: '--no-test' };
  if (storage.mode === 'build-only') return { mode: 'off', reason: 'a build-only run (--test runs them)' };
  return { mode: 'auto' };
}

/** The BuildRequests of a run (see resolveRun). */
export function resolveRequests(options: CreateImageOptions, now = new Date()): BuildRequest[] {
  return resolveRun(options, now).requests;
}

/** The one BuildRequest of flags that name one image (a UsageError if they name several). */
export function resolveRequest(options: CreateImageOptions, now = new Date()): BuildRequest {
  const requests = resolveRequests(options, now);
  if (requests.length !== 1) throw new UsageError('give exactly one --name here');
  return requests[0];
}

function resolveOne(name: string, architecture: Architecture, catalog: Catalog, options: CreateImageOptions & { timestamp: string }): BuildRequest {
  const distro = distribution(options.distribution);
  const recipe = catalog.recipe(name);
  if (!recipe.os_versions.includes(distro.codename)) {
    throw new UsageError(
      `image "${name}" is not built for ${distro.codename} (its os_versions: ${recipe.os_versions.join(', ')})`,
    );
  }
  if (!recipe.architectures.includes(architecture)) {
    throw new UsageError(`image "${name}" is not built for ${architecture} (its architectures: ${recipe.architectures.join(', ')})`);
  }
  const nameField = archNameField(name, architecture);
  const common = catalog.common;
  const organization = checkNameField('organization', options.organization ?? common.organization);
  const releaseTrack = checkNameField('release-track', options.releaseTrack ?? common.release_track);
  const releaseLabel = checkNameField('release-label', options.releaseLabel ?? common.release_label ?? releaseTrack);
  const flavour = checkNameField('flavour', options.flavour ?? bundleFlavour(recipe, common.flavour));
  const timestamp = options.timestamp;
  const aptRepo = options.aptRepo ?? common.apt_repo;
  if (aptRepo !== undefined) checkAptRepoUrl(aptRepo);
  const mirror = options.mirror ?? common.mirror;
  const securityMirror = options.securityMirror ?? common.security_mirror;
  if (mirror !== undefined) checkMirrorUrl('--mirror', mirror);
  if (securityMirror !== undefined) checkMirrorUrl('--security-mirror', securityMirror);
  const workRoot = resolve(options.workDir ?? process.env.TAILOR_IMAGE_WORK_DIR ?? DEFAULT_WORK_ROOT);
  const aptRepoKey = options.aptRepoKey ?? (typeof common.apt_repo_key === 'string' ? common.apt_repo_key : undefined);
  return {
    name,
    recipe,
    distribution: withUsableKeyring(distro),
    architecture,
    nameField,
    organization,
    releaseTrack,
    releaseLabel,
    flavour,
    timestamp,
    imageName: imageName({ organization, name: nameField, distribution: distro.codename, releaseLabel, timestamp }),
    aptRepo,
    installBundle: options.bundle !== false && aptRepo !== undefined,
    aptRepoKey: aptRepoKey && !isAbsolute(aptRepoKey) ? resolve(aptRepoKey) : aptRepoKey,
    dockerRegistry: options.dockerRegistry ?? common.docker_registry,
    mirror,
    securityMirror,
    workRoot,
    keepWorkDir: options.keepWorkDir ?? false,
    noCache: options.cache === false,
    cacheDir: resolve(options.cacheDir ?? process.env.TAILOR_IMAGE_CACHE_DIR ?? join(homedir(), '.cache', 'tailor-image')),
    cacheMaxAgeHours: cacheMaxAge(options.cacheMaxAge),
    allowedSourceDirs: (options.allowSourceDir ?? []).map(allowedSourceDir),
  };
}
