import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { splitArchNameField } from '../../core/architecture';
import { run } from '../../core/exec';
import { BuildLog } from '../../core/log';
import { imageTag, parseRegistry, repositoryName } from '../../core/oci-reference';
import { GpgSession } from '../signing/openpgp-signer';
import { EcrClientFactory } from './auth';
import { ArchImage, imageIndexManifest, OCI_INDEX_MEDIA_TYPE, splitPinned } from './image-index';
import { RegistryApi } from './registry-api';

export interface ImageIndexPush {
  /** The pushed images of each architecture (multiArchImages), all in one repository. */
  images: ArchImage[];
  /** The recipe's image: its name field (any architecture's), distribution, release label and organization. */
  image: { name: string; distribution: string; releaseLabel: string; organization: string };
  target: { registry: string; repository?: string };
  /** Sign the index as skopeo --sign-by signs an image, into the lookaside layout under `lookasideDir`. */
  signing?: { session: GpgSession; lookasideDir: string };
  env?: NodeJS.ProcessEnv;
  ecrClient?: EcrClientFactory;
  log: BuildLog;
  signal?: AbortSignal;
}

/**
 * Puts the OCI image index of the architectures' manifests under the usual tag
 * (`tailor-image-<recipe>-<distribution>-<label>`, the amd64 image's tag): each child by
 * the digest the registry stored, its media type and size read back from the registry.
 */
export async function pushImageIndex(push: ImageIndexPush): Promise<{ reference: string; pinned: string; digest: string }> {
  const api = new RegistryApi({ registry: push.target.registry, env: push.env, ecrClient: push.ecrClient, signal: push.signal });
  const target = parseRegistry(push.target.registry);
  const repositoryRef = `${target.registry}/${repositoryName(push.target.repository, push.image.organization)}`;
  const repository = api.repositoryPath(repositoryRef);
  const tag = imageTag({ name: splitArchNameField(push.image.name).name, distribution: push.image.distribution, releaseLabel: push.image.releaseLabel });
  const children = [];
  for (const image of push.images) {
    const pinned = splitPinned(image.reference);
    if (pinned.repositoryRef !== repositoryRef) throw new Error(`${image.reference} is not in ${repositoryRef}`);
    children.push({ ...(await api.headManifest(repository, pinned.digest)), architecture: image.architecture });
  }
  const body = imageIndexManifest(children);
  const reference = `${repositoryRef}:${tag}`;
  push.log.info(`pushing the image index ${reference} (${push.images.map((image) => image.architecture).join(', ')})`);
  const digest = await api.putManifest(repository, tag, OCI_INDEX_MEDIA_TYPE, body);
  if (push.signing) {
    const signed: { bytes: Buffer; digest: string; slot: number }[] = [{ bytes: Buffer.from(body, 'utf8'), digest, slot: 1 }];
    // A pull by the usual tag checks the chosen image's signature against that tag too: each
    // child gets one for it beside its own (signature-1, made for its per-arch tag).
    for (const child of children) signed.push({ bytes: await api.getManifest(repository, child.digest), digest: child.digest, slot: 2 });
    for (const manifest of signed) await signManifest(manifest, reference, repository, push.signing, push.log, push.signal);
  }
  return { reference, pinned: `${repositoryRef}@${digest}`, digest };
}

/**
 * A "simple signing" signature of a manifest for `reference`, made by `skopeo
 * standalone-sign` with the push's key and written where skopeo --sign-by writes an
 * image's (the lookaside layout: `<repository>@sha256=<hex>/signature-<slot>`), so
 * podman's policy checks a pull by the usual tag as it checks a pull of one architecture.
 */
async function signManifest(
  manifest: { bytes: Buffer; digest: string; slot: number }, reference: string, repository: string,
  signing: { session: GpgSession; lookasideDir: string }, log: BuildLog, signal?: AbortSignal,
): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'tailor-index-sign-'));
  try {
    const file = join(work, 'manifest.json');
    await writeFile(file, manifest.bytes);
    const folder = join(signing.lookasideDir, `${repository}@${manifest.digest.replace(':', '=')}`);
    await mkdir(folder, { recursive: true });
    await run('skopeo', ['standalone-sign', `--output=${join(folder, `signature-${manifest.slot}`)}`, file, reference, signing.session.fingerprint], {
      describe: `skopeo standalone-sign ${reference}`,
      log,
      signal,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GNUPGHOME: signing.session.home },
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
