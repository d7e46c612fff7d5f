import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildError, UsageError } from '../../core/errors';
import { BuiltImage } from '../../core/image';
import { run } from '../../core/exec';
import { requireHostTools } from '../../core/host-tools';
import { BuildLog } from '../../core/log';
import { imageTag, parseRegistry, repositoryName } from '../../core/oci-reference';
import { EcrClientFactory, registryAuth, writeAuthFile } from './auth';
import { GpgSession } from '../signing/openpgp-signer';

export { ecrHost, registryAuth, REGISTRY_PASSWORD_ENV, REGISTRY_USERNAME_ENV } from './auth';
export type { EcrClientFactory } from './auth';

export interface PushRequest {
  /** An OCI layout directory, or an archive holding one (`<image>.oci.tar` or `<image>.docker.tar`). */
  source: string;
  /** `--docker-registry` as given: host[:port][/prefix]; an http:// prefix allows plain HTTP. */
  registry: string;
  /** `<repository>:<tag>` inside the registry. */
  name: string;
  /** Skip TLS verification (also implied by http:// and by localhost / 127.0.0.1). */
  insecure?: boolean;
  /** Where TAILOR_REGISTRY_USERNAME/PASSWORD are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Makes the ECR client (tests pass a fake). */
  ecrClient?: EcrClientFactory;
  /**
   * Sign the pushed image (skopeo --sign-by, an OpenPGP "simple signing" signature) with
   * the session's key; the signature is written under `lookasideDir` in the lookaside
   * layout (`<repository>@sha256=<digest>/signature-1`), for the caller to publish.
   */
  signing?: { session: GpgSession; lookasideDir: string };
  log: BuildLog;
  signal?: AbortSignal;
}

export interface PushResult {
  /** `<registry>/<repository>:<tag>` */
  reference: string;
  /** `<registry>/<repository>@sha256:...`, the manifest as stored by the registry. */
  pinned: string;
  digest: string;
}

/**
 * Pushes an OCI image to a registry with skopeo, keeping its digests. Credentials go to
 * skopeo in an auth file in a private temp dir, never on the command line, and the file is
 * removed afterwards.
 */
export async function pushImage(push: PushRequest): Promise<PushResult> {
  requireHostTools([{ command: 'skopeo', package: 'skopeo' }]);
  const target = parseRegistry(push.registry, { insecure: push.insecure });
  if (!/^[a-z0-9._/-]+:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(push.name)) {
    throw new UsageError(`"${push.name}" is not a repository:tag name`);
  }
  const reference = `${target.registry}/${push.name}`;
  const transport = await sourceTransport(push.source);
  const auth = await registryAuth(target.host, { env: push.env, ecrClient: push.ecrClient });
  const work = await mkdtemp(join(tmpdir(), 'tailor-push-'));
  const authFile = auth.kind === 'basic' ? await writeAuthFile(target.host, auth.auth) : undefined;
  try {
    const digestFile = join(work, 'digest');
    const signing = push.signing ? await signingArgs(work, target.host, push.signing) : [];
    const args = [
      'copy',
      '--quiet',
      '--retry-times=3',
      '--preserve-digests',
      `--digestfile=${digestFile}`,
      ...(target.insecure ? ['--dest-tls-verify=false'] : []),
      ...(authFile ? [`--dest-authfile=${authFile.path}`] : []),
      ...signing,
      transport,
      `docker://${reference}`,
    ];
    push.log.info(`pushing ${reference}${auth.kind === 'basic' ? ` (login from ${auth.source})` : ''}`);
    await run('skopeo', args, {
      describe: `skopeo copy to ${reference}`,
      log: push.log,
      signal: push.signal,
      env: { ...skopeoEnv(), ...(push.signing ? { GNUPGHOME: push.signing.session.home } : {}) },
    });
    const digest = (await readFile(digestFile, 'utf8')).trim();
    const repository = reference.slice(0, reference.lastIndexOf(':'));
    return { reference, pinned: `${repository}@${digest}`, digest };
  } finally {
    await authFile?.remove();
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Pushes a finished docker build under tailor's tag
 * (`<registry>/<repository>:tailor-image-<name>-<distribution>-<release_label>`), from its
 * `<image>.oci.tar`. The publish mode calls it with `request.dockerRegistry` and
 * `request.recipe.docker.repository`, then records `reference` for the image.
 */
export async function pushBuiltImage(
  image: BuiltImage,
  target: { registry?: string; repository?: string },
  options: Pick<PushRequest, 'env' | 'ecrClient' | 'log' | 'signal' | 'signing'>,
): Promise<PushResult> {
  const registry = checkPushTarget(target);
  const tag = imageTag({ name: image.name, distribution: image.distribution, releaseLabel: image.releaseLabel });
  const repository = repositoryName(target.repository, image.organization);
  return pushImage({ ...options, source: ociSourceOf(image), registry, name: `${repository}:${tag}` });
}

/** The registry a docker image is published to; a UsageError when there is none. */
export function checkPushTarget(target: { registry?: string }): string {
  if (!target.registry) {
    throw new UsageError('publishing a docker image needs --docker-registry (or docker_registry in the common configuration)');
  }
  return target.registry;
}

/** The image file a docker build wrote that holds the OCI layout (the .oci.tar, or the .docker.tar). */
export function ociSourceOf(image: BuiltImage): string {
  const layout = image.artifacts.find((a) => a.fileName.endsWith('.oci.tar')) ??
    image.artifacts.find((a) => a.fileName.endsWith('.docker.tar'));
  if (!layout) throw new BuildError(`${image.imageName} has no OCI image to push (build_type ${image.buildType})`);
  return layout.path;
}

async function sourceTransport(source: string): Promise<string> {
  let info;
  try {
    info = await stat(source);
  } catch {
    throw new BuildError(`the image to push, ${source}, does not exist`);
  }
  return info.isDirectory() ? `oci:${source}` : `oci-archive:${source}`;
}

/**
 * skopeo's signing flags: the key by fingerprint (gpg finds it in the session's GNUPGHOME)
 * and a registries.d of its own that sends this registry's signatures to the lookaside dir.
 */
async function signingArgs(work: string, host: string, signing: { session: GpgSession; lookasideDir: string }): Promise<string[]> {
  const registriesD = join(work, 'registries.d');
  await mkdir(registriesD, { recursive: true });
  await mkdir(signing.lookasideDir, { recursive: true });
  await writeFile(join(registriesD, 'tailor-image.yaml'), `docker:\n  ${JSON.stringify(host)}:\n    lookaside-staging: ${JSON.stringify(`file://${signing.lookasideDir}`)}\n`);
  return [`--registries.d=${registriesD}`, `--sign-by=${signing.session.fingerprint}`];
}

/** skopeo runs without the builder's secrets in its environment (it needs none of them). */
function skopeoEnv(): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'XDG_RUNTIME_DIR', 'LANG', 'LC_ALL', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'SSL_CERT_FILE', 'SSL_CERT_DIR'];
  return Object.fromEntries(keep.filter((key) => process.env[key] !== undefined).map((key) => [key, process.env[key]]));
}

/**
 * Loads a `<image>.docker.tar` into a local Docker engine (CodeBuild privileged mode), when
 * asked. Nothing requires an engine; without one this fails with one line.
 */
export async function loadIntoDocker(archive: string, options: { log: BuildLog; signal?: AbortSignal }): Promise<void> {
  requireHostTools([{ command: 'docker', package: 'docker.io' }]);
  await run('docker', ['load', '--input', archive], { describe: 'docker load', log: options.log, signal: options.signal });
}
