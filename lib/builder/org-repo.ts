import { existsSync, readFileSync } from 'node:fs';
import { UsageError } from '../core/errors';
import { recipeSourcePath } from '../recipes/sources';
import { BuildContext, BuildPlan } from './context';
import { checkArchive } from './mirror-check';
import { Rootfs } from './rootfs-path';
import { checkS3Archive, parseS3Url, S3Location, startS3AptProxy } from './s3-apt-proxy';
import { bundlePackageName } from '../core/naming';
import { quote } from '../core/message-text';
import { safeDecode } from '../core/redact';

/** Files the org repository puts into the image while the bundle is installed. */
const SOURCE_FILE = 'etc/apt/sources.list.d/tailor-org.sources';
const AUTH_FILE = 'etc/apt/auth.conf.d/90tailor-org.conf';
const KEY_DIR = 'etc/apt/keyrings';

export interface OrgRepo {
  /** `{apt_repo}/{release_label}/ubuntu`, without credentials. */
  uri: string;
  suite: string;
  package: string;
  /** `machine` is what apt's auth.conf matches: host[:port], with http:// for plain http. */
  credentials?: { machine: string; login: string; password: string };
  /** The key file on the host, or undefined for an unsigned repository. */
  keyFile?: string;
  /** For s3:// repositories: the bucket and the path below it; apt reads it through a local proxy. */
  s3?: S3Location & { path: string };
}

/** Works out the org repository from the request, or undefined when there is none. */
export function orgRepoFor(plan: Pick<BuildPlan, 'request'>): OrgRepo | undefined {
  const { request } = plan;
  const { recipe } = request;
  if (!request.aptRepo || !request.installBundle) return undefined;
  // A key the recipe names is a recipe source (inside its catalog folder); --apt-repo-key is the user's own.
  const keyFile = request.aptRepoKey
    ?? (recipe.org_repo.key ? recipeSourcePath(recipe, recipe.org_repo.key, 'org_repo.key', request.allowedSourceDirs) : undefined);
  if (!keyFile && !recipe.org_repo.allow_unsigned) {
    throw new UsageError(
      'the org repository needs its signing key (--apt-repo-key or org_repo.key in the recipe); ' +
        'unsigned repositories are used only when the recipe sets org_repo.allow_unsigned',
    );
  }
  if (keyFile && !existsSync(keyFile)) throw new UsageError(`the org repository key ${keyFile} does not exist`);
  const suite = request.distribution.codename;
  const pkg = bundlePackageName(request.organization, request.flavour, request.releaseLabel);
  if (request.aptRepo.startsWith('s3://')) {
    const location = parseS3Url(request.aptRepo);
    const path = `${request.releaseLabel}/ubuntu`;
    const base = `s3://${location.bucket}${location.prefix ? `/${location.prefix}` : ''}`;
    return { uri: `${base}/${path}`, suite, package: pkg, keyFile, s3: { ...location, path } };
  }
  let url: URL;
  try {
    url = new URL(request.aptRepo);
  } catch {
    throw new UsageError(`--apt-repo ${quote(request.aptRepo)} is not a URL (http://, https:// or s3://)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--apt-repo ${quote(request.aptRepo)} must be http://, https:// or s3://`);
  }
  const credentials = url.username
    ? {
        // apt refuses credentials for unencrypted http unless the entry says http:// itself.
        machine: url.protocol === 'http:' ? `http://${url.host}` : url.host,
        login: safeDecode(url.username),
        password: safeDecode(url.password),
      }
    : undefined;
  url.username = '';
  url.password = '';
  const base = url.toString().replace(/\/+$/, '');
  return { uri: `${base}/${request.releaseLabel}/ubuntu`, suite, package: pkg, credentials, keyFile };
}

export async function checkOrgRepo(repo: OrgRepo, signal: AbortSignal): Promise<void> {
  if (repo.s3) {
    await checkS3Archive(repo.s3, `${repo.s3.path}/dists/${repo.suite}`, 'the org repository', undefined, signal);
    return;
  }
  await checkArchive(repo.uri, repo.suite, 'the org repository', signal, repo.credentials);
}

/**
 * Installs the bundle from the org repository: adds the source (and key, and credentials
 * in auth.conf.d, never in the source line), installs, then removes all three unless the
 * recipe keeps the source. Credentials are always removed.
 */
export async function installBundle(ctx: BuildContext, repo: OrgRepo): Promise<void> {
  const chroot = ctx.chroot!;
  const image = new Rootfs(ctx.rootfs);
  const keep = ctx.request.recipe.org_repo.keep_source;
  let signedBy = 'Trusted: yes';
  let keyPath: string | undefined;
  if (repo.keyFile) {
    const key = readFileSync(repo.keyFile);
    const armored = key.subarray(0, 64).toString('latin1').includes('-----BEGIN PGP');
    keyPath = `${KEY_DIR}/tailor-org.${armored ? 'asc' : 'gpg'}`;
    await image.writeFile(keyPath, key, { mode: 0o644 });
    signedBy = `Signed-By: /${keyPath}`;
  }
  // An s3:// repository is read through a proxy on 127.0.0.1 for the time of the install.
  let uri = repo.uri;
  if (repo.s3) {
    const proxy = await startS3AptProxy(repo.s3);
    ctx.cleanups.push('stop the S3 apt proxy', () => proxy.stop());
    uri = `${proxy.url}/${repo.s3.path}`;
  }
  const sourceText = (address: string) => `Types: deb\nURIs: ${address}\nSuites: ${repo.suite}\nComponents: main\n${signedBy}\n`;
  const removeTemporary = async (all: boolean) => {
    await image.remove(AUTH_FILE);
    if (all) {
      await image.remove(SOURCE_FILE);
      if (keyPath) await image.remove(keyPath);
    }
  };
  ctx.cleanups.push('remove org repository credentials', () => removeTemporary(!keep));
  await image.writeFile(SOURCE_FILE, sourceText(uri), { mode: 0o644 });
  if (repo.credentials) {
    const { machine, login, password } = repo.credentials;
    await image.writeFile(AUTH_FILE, `machine ${machine}\nlogin ${login}\npassword ${password}\n`, { mode: 0o600 });
  }
  await chroot.run(['apt-get', 'update'], { describe: 'apt-get update (org repository)' });
  await chroot.run(['apt-get', 'install', '-y', '--no-install-recommends', repo.package], {
    describe: `apt-get install ${repo.package}`,
  });
  await ctx.cleanups.runNow('remove org repository credentials', ctx.log);
  if (repo.s3) {
    await ctx.cleanups.runNow('stop the S3 apt proxy', ctx.log);
    // A kept source names the bucket itself (for apt-transport-s3), not the dead proxy.
    if (keep) await image.writeFile(SOURCE_FILE, sourceText(repo.uri), { mode: 0o644 });
  }
}
