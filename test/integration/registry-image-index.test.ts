import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { silentLog } from '../../lib/core/log';
import { Architecture } from '../../lib/core/architecture';
import { pushImage } from '../../lib/storage/registry/push';
import { pushImageIndex } from '../../lib/storage/registry/multi-arch';
import { describeWith, rootUser, tool } from '../support/prereq';
import { requireSignatures } from '../support/signature-policy';
import { makeSigningKey } from '../support/signing-key';
import { OpenPgpSigner } from '../../lib/storage/signing/openpgp-signer';
import { configOf, resolvedPlatform, startRegistry, TestRegistry } from '../support/registry';

const exec = promisify(execFile);
const USER = 'pusher';
const PASSWORD = `pw-${process.pid}`;

/** A one-layer OCI layout whose config says `architecture` (what skopeo pushes and inspects). */
function syntheticLayout(dir: string, architecture: Architecture): string {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const blob = (bytes: Buffer) => {
    const hex = createHash('sha256').update(bytes).digest('hex');
    writeFileSync(join(blobs, hex), bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  // An empty tar (two zero blocks), gzipped.
  const tar = Buffer.alloc(1024);
  const layer = blob(gzipSync(tar));
  const diffId = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
  const config = blob(Buffer.from(JSON.stringify({ architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] }, config: {} })));
  const manifest = blob(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
  })));
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest }] }));
  return manifest.digest;
}

/**
 * The multi-arch index against a real registry (Debian's docker-registry, basic auth, on
 * loopback): two synthetic images, one per architecture, pushed by skopeo as the store
 * pushes them; pushImageIndex puts their index under the usual tag by the registry API
 * alone, and skopeo resolves each --override-arch to its image's digest.
 */
describeWith('the multi-arch image index in a registry', [tool('skopeo'), tool('docker-registry'), tool('gpg', 'gnupg'), rootUser()], () => {
  const work = mkdtempSync(join(tmpdir(), 'tailor-image-index-'));
  const env = { TAILOR_REGISTRY_USERNAME: USER, TAILOR_REGISTRY_PASSWORD: PASSWORD };
  let registry: TestRegistry;
  const pinned: Record<string, string> = {};

  beforeAll(async () => {
    registry = await startRegistry({ username: USER, password: PASSWORD });
    for (const [arch, tag] of [['amd64', 'tailor-image-dev-env-bookworm-hotdog'], ['arm64', 'tailor-image-dev-env-arm64-bookworm-hotdog']] as const) {
      const layout = join(work, arch);
      syntheticLayout(layout, arch);
      const pushed = await pushImage({ source: layout, registry: `http://${registry.address}`, name: `acme:${tag}`, env, log: silentLog });
      pinned[arch] = pushed.pinned;
    }
  }, 60000);

  afterAll(async () => {
    await registry?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('the usual tag becomes an OCI index; each architecture resolves to its own digest', async () => {
    const pushed = await pushImageIndex({
      images: [
        { architecture: 'arm64', reference: pinned.arm64, imageName: 'acme_dev-env-arm64_bookworm_hotdog_20261202.080000' },
        { architecture: 'amd64', reference: pinned.amd64, imageName: 'acme_dev-env_bookworm_hotdog_20261202.080000' },
      ],
      image: { name: 'dev-env-arm64', distribution: 'bookworm', releaseLabel: 'hotdog', organization: 'acme' },
      target: { registry: `http://${registry.address}` },
      env,
      log: silentLog,
    });
    expect(pushed.reference).toBe(`${registry.address}/acme:tailor-image-dev-env-bookworm-hotdog`);
    const raw = JSON.parse((await exec('skopeo', ['inspect', '--raw', '--tls-verify=false', `--creds=${USER}:${PASSWORD}`, `docker://${pushed.reference}`])).stdout) as {
      mediaType: string; manifests: { digest: string; platform: { architecture: string } }[];
    };
    expect(raw.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(raw.manifests.map((m) => [m.platform.architecture, m.digest])).toEqual([
      ['amd64', pinned.amd64.split('@')[1]],
      ['arm64', pinned.arm64.split('@')[1]],
    ]);
    for (const arch of ['amd64', 'arm64']) {
      const resolved = await resolvedPlatform(`docker://${pushed.reference}`, arch, ['--tls-verify=false', `--creds=${USER}:${PASSWORD}`]);
      expect({ arch, ...resolved }).toEqual({ arch, architecture: arch, config: await configOf(`docker://${pinned[arch]}`, ['--tls-verify=false', `--creds=${USER}:${PASSWORD}`]) });
    }
  });

  test('signed: a pull by the usual tag for each architecture passes a policy that requires the key', async () => {
    const key = makeSigningKey(work);
    const signer = await OpenPgpSigner.fromFile(key.secretKeyFile, silentLog);
    const lookasideDir = join(work, 'lookaside');
    const registryRef = `http://${registry.address}`;
    const tags = { amd64: 'tailor-image-signed-bookworm-hotdog', arm64: 'tailor-image-signed-arm64-bookworm-hotdog' };
    const images = await signer.withSession(silentLog, async (session) => {
      const pushed = [];
      for (const arch of ['amd64', 'arm64'] as const) {
        const one = await pushImage({ source: join(work, arch), registry: registryRef, name: `acme:${tags[arch]}`, env, log: silentLog, signing: { session, lookasideDir } });
        pushed.push({ architecture: arch, reference: one.pinned, imageName: arch });
      }
      await pushImageIndex({
        images: pushed, image: { name: 'signed', distribution: 'bookworm', releaseLabel: 'hotdog', organization: 'acme' },
        target: { registry: registryRef }, env, log: silentLog, signing: { session, lookasideDir },
      });
      return pushed;
    });
    const policy = requireSignatures(work, registry.address, key.publicKeyFile, lookasideDir);
    try {
      for (const image of images) {
        const copied = join(work, `pulled-${image.architecture}`);
        await exec('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `--src-creds=${USER}:${PASSWORD}`, '--policy', policy.policyFile, '--remove-signatures',
          '--override-arch', image.architecture, `docker://${registry.address}/acme:tailor-image-signed-bookworm-hotdog`, `oci:${copied}`]);
        const layout = JSON.parse(readFileSync(join(copied, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
        expect(layout.manifests.map((m) => m.digest)).toEqual([image.reference.split('@')[1]]);
      }
      // An unsigned index under another tag is refused by the same policy.
      await pushImageIndex({ images, image: { name: 'unsigned', distribution: 'bookworm', releaseLabel: 'hotdog', organization: 'acme' }, target: { registry: registryRef }, env, log: silentLog });
      await expect(exec('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `--src-creds=${USER}:${PASSWORD}`, '--policy', policy.policyFile, '--remove-signatures',
        '--override-arch', 'arm64', `docker://${registry.address}/acme:tailor-image-unsigned-bookworm-hotdog`, `oci:${join(work, 'refused')}`])).rejects.toThrow(/signature/i);
    } finally {
      policy.remove();
    }
  }, 120000);

  test('without the login the registry refuses it with one line', async () => {
    await expect(pushImageIndex({
      images: [
        { architecture: 'amd64', reference: pinned.amd64, imageName: 'a' },
        { architecture: 'arm64', reference: pinned.arm64, imageName: 'b' },
      ],
      image: { name: 'dev-env', distribution: 'bookworm', releaseLabel: 'hotdog', organization: 'acme' },
      target: { registry: `http://${registry.address}` },
      env: {},
      log: silentLog,
    })).rejects.toThrow(/^the registry 127\.0\.0\.1:\d+ refused the login for acme \(HTTP 401\)$/);
  });
});
