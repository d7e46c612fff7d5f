import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { CleanupStack } from '../../lib/builder/cleanup';
import { digestFile } from '../../lib/core/digest';
import { BuildLog } from '../../lib/core/log';
import { buildOciLayout, ociPacker } from '../../lib/builder/packers/oci';
import { BuiltImage } from '../../lib/core/image';
import { pushBuiltImage, pushImage } from '../../lib/storage/registry/push';
import { createImageCommand, CreateImageOptions } from '../../lib/cli/create-image-options';
import { resolveRequest } from '../../lib/cli/resolve-request';
import { REPO_ROOT, runCreateImage } from '../support/cli';
import { commandSucceeds, describeWith, rootUser, tool } from '../support/prereq';
import { Podman } from '../support/podman';
import { startRegistry, TestRegistry } from '../support/registry';
import { cyclonedxPackageList, cyclonedxSchemaErrors, spdxPackageList, spdxProblems } from '../support/sbom-check';
import { requireSignatures } from '../support/signature-policy';
import { filesHolding, gpgvVerifies, makeSigningKey } from '../support/signing-key';
import { OpenPgpSigner } from '../../lib/storage/signing/openpgp-signer';
import { silentLog } from '../../lib/core/log';

const exec = promisify(execFile);
const FIXTURE_CATALOG = join(REPO_ROOT, 'test', 'fixtures', 'docker-catalog');
const TIMESTAMP = '20260101.120000';
const BUILD_TIMEOUT = 20 * 60 * 1000;

/** Collects what the builder logs (to check no secret is ever logged). */
function recordingLog(lines: string[]): BuildLog {
  const keep = (message: string) => void lines.push(message);
  return { stageStart: keep, stageEnd: keep, info: keep, warn: keep, debug: keep };
}

/** A create_image run that must succeed; on failure its last lines say why. */
function expectSuccess(result: { code: number; stderr: string }): void {
  if (result.code !== 0) throw new Error(`create_image exited ${result.code}: ${result.stderr.trim().split('\n').slice(-5).join(' | ')}`);
}

/** The image's files in a store folder (./images for build-only), by suffix. */
function builtFiles(dir: string, image: string) {
  const file = (suffix: string) => {
    const path = join(dir, `${image}.${suffix}`);
    if (!existsSync(path)) throw new Error(`${path} was not written (found: ${readdirSync(dir).join(', ')})`);
    return path;
  };
  return { dockerTar: file('docker.tar'), ociTar: file('oci.tar') };
}

/** Unpacks an OCI layout archive and returns its manifest, config and layer blob paths. */
async function openLayout(archive: string, into: string) {
  mkdirSync(into, { recursive: true });
  await exec('tar', ['-xf', archive, '-C', into]);
  const blob = (digest: string) => join(into, 'blobs', ...digest.split(':'));
  const index = JSON.parse(readFileSync(join(into, 'index.json'), 'utf8'));
  const manifestDigest: string = index.manifests[0].digest;
  const manifest = JSON.parse(readFileSync(blob(manifestDigest), 'utf8'));
  const configPath = blob(manifest.config.digest);
  return {
    manifestDigest,
    configDigest: manifest.config.digest as string,
    layerDigests: (manifest.layers as { digest: string }[]).map((l) => l.digest),
    config: JSON.parse(readFileSync(configPath, 'utf8')),
    files: [join(into, 'index.json'), blob(manifestDigest), configPath],
    layers: (manifest.layers as { digest: string }[]).map((l) => blob(l.digest)),
  };
}

/** Which of `needles` occur anywhere in the stream (file contents, names and tar headers). */
async function findNeedles(stream: Readable, needles: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  const patterns = needles.map((n) => Buffer.from(n, 'utf8'));
  const overlap = Math.max(...patterns.map((p) => p.length)) - 1;
  let tail = Buffer.alloc(0);
  for await (const chunk of stream) {
    const window = Buffer.concat([tail, chunk as Buffer]);
    patterns.forEach((pattern, i) => {
      if (window.includes(pattern)) found.add(needles[i]);
    });
    tail = window.subarray(Math.max(0, window.length - overlap));
  }
  return found;
}

/** `tar -tvzf` of a layer: [mode, size, name] per entry, names without "./". */
async function layerListing(file: string): Promise<{ mode: string; size: number; name: string }[]> {
  const { stdout } = await exec('tar', ['-tvzf', file], { maxBuffer: 64 << 20 });
  return stdout.split('\n').filter(Boolean).map((line) => {
    const fields = line.split(/\s+/);
    return { mode: fields[0], size: Number(fields[2]), name: fields.slice(5).join(' ').replace(/^\.\//, '') };
  });
}

/** Entries of a listing that finalize removes (or empties) in every image: none may be in a base layer. */
function finalizeLeftovers(listing: { mode: string; size: number; name: string }[]): string[] {
  const removed = [
    /^etc\/ssh\/ssh_host_.*key(\.pub)?$/, /^var\/lib\/apt\/lists\/(?!partial\/$|lock$)./, /^var\/cache\/apt\/[^/]*\.bin$/,
    /^var\/cache\/apt\/archives\/[^/]*\.deb$/, /^tmp\/./, /^var\/tmp\/./, /^var\/log\/apt\/./,
    /^var\/log\/(dpkg|alternatives|bootstrap)\.log$/, /^etc\/hostname$/, /^var\/lib\/dbus\/machine-id$/,
  ];
  const emptied = [/^etc\/machine-id$/, /^etc\/resolv\.conf$/];
  return listing
    .filter(({ mode, size, name }) => removed.some((re) => re.test(name)) || (mode.startsWith('-') && size > 0 && emptied.some((re) => re.test(name))))
    .map(({ name }) => name);
}

const scanFile = (path: string, needles: string[]) => findNeedles(createReadStream(path), needles);
const scanLayer = (path: string, needles: string[]) => findNeedles(createReadStream(path).pipe(createGunzip()), needles);

describeWith(
  'docker images: built without a Docker engine, pushed to a registry, run with podman',
  [
    rootUser(),
    tool('mmdebstrap'),
    tool('pigz'),
    tool('skopeo'),
    tool('podman'),
    tool('runc'),
    tool('docker-registry'),
    tool('python3'),
    commandSucceeds(
      'ansible with community.general (apt-get install ansible)',
      'ansible-doc', ['-t', 'connection', 'community.general.chroot'],
    ),
  ],
  () => {
    const work = mkdtempSync(join('/var/tmp', 'tailor-test-docker-'));
    const podman = new Podman();
    let registry: TestRegistry;
    let authRegistry: TestRegistry;
    const registryUser = 'pusher';
    const secrets = {
      AWS_ACCESS_KEY_ID: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`,
      AWS_SECRET_ACCESS_KEY: randomBytes(20).toString('base64url'),
      AWS_SESSION_TOKEN: randomBytes(24).toString('base64url'),
      TAILOR_REGISTRY_PASSWORD: randomBytes(16).toString('hex'),
      TAILOR_TEST_USER_PASSWORD: `pw-${randomBytes(12).toString('hex')}`,
    };
    /** The secrets build's kept work directory (its rootfs is packed again in the reproducibility test). */
    let secretsWorkDir: string | undefined;

    beforeAll(async () => {
      registry = await startRegistry();
      authRegistry = await startRegistry({ username: registryUser, password: secrets.TAILOR_REGISTRY_PASSWORD });
    });

    afterAll(async () => {
      await registry?.stop();
      await authRegistry?.stop();
      await podman.remove();
      rmSync(work, { recursive: true, force: true });
    });

    test('dev-env for bookworm: built with create_image into local storage, pushed, pulled and run', async () => {
      const cwd = join(work, 'dev-env');
      mkdirSync(cwd);
      const storage = join(work, 'store');
      const key = makeSigningKey(cwd);
      const result = await runCreateImage(
        ['--name', 'dev-env', '--distribution', 'bookworm', '--local-storage', '--local-storage-path', storage, '--timestamp', TIMESTAMP,
          '--docker-registry', `http://${registry.address}`, '--work-dir', join(work, 'builds'), '--signing-key', key.secretKeyFile],
        { cwd, timeoutMs: BUILD_TIMEOUT },
      );
      expectSuccess(result);
      const image = `acme_dev-env_bookworm_hotdog_${TIMESTAMP}`;
      const imagesDir = join(storage, 'hotdog', 'images');
      const { dockerTar, ociTar } = builtFiles(imagesDir, image);
      // The index entry sits under "docker", with the md5 of the docker-loadable archive.
      const localIndex = JSON.parse(readFileSync(join(imagesDir, 'index.json'), 'utf8'));
      const dockerDigest = await digestFile(dockerTar);
      expect(localIndex[TIMESTAMP].docker['dev-env'].bookworm).toMatchObject({
        file: image, checksum: dockerDigest.md5, sha256: dockerDigest.sha256, artifact: `${image}.docker.tar`,
      });
      expect(readFileSync(join(imagesDir, `${image}.md5`), 'utf8')).toBe(`${dockerDigest.md5}  ${image}.docker.tar\n`);

      // The SBOMs: named by the index entry, valid, describing the image file by its sha256.
      expect(localIndex[TIMESTAMP].docker['dev-env'].bookworm).toMatchObject({ spdx: `${image}.spdx.json`, cyclonedx: `${image}.cdx.json` });
      const spdx = JSON.parse(readFileSync(join(imagesDir, `${image}.spdx.json`), 'utf8'));
      const cdxText = readFileSync(join(imagesDir, `${image}.cdx.json`), 'utf8');
      expect(spdxProblems(spdx)).toEqual([]);
      expect(await cyclonedxSchemaErrors(cdxText)).toBeNull();
      const cdx = JSON.parse(cdxText);
      expect(spdx.packages[0].checksums).toEqual([{ algorithm: 'SHA256', checksumValue: dockerDigest.sha256 }]);
      expect(cdx.metadata.component.hashes).toEqual([{ alg: 'SHA-256', content: dockerDigest.sha256 }]);
      expect(cdx.components.find((c: { name: string }) => c.name === 'libc6')).toMatchObject({ purl: expect.stringMatching(/^pkg:deb\/debian\/libc6@.+\?arch=amd64&distro=debian-12$/) });

      // The signed release: the operator's two commands (docs/SIGNING.md), and the index.
      expect(gpgvVerifies(key.publicKeyFile, join(imagesDir, 'SHA256SUMS.gpg'), join(imagesDir, 'SHA256SUMS'))).toBe(true);
      await exec('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: imagesDir });
      expect(readFileSync(join(imagesDir, 'SHA256SUMS'), 'utf8')).toContain(`${dockerDigest.sha256}  ${image}.docker.tar\n`);
      expect(gpgvVerifies(key.publicKeyFile, join(imagesDir, 'index.json.gpg'), join(imagesDir, 'index.json'))).toBe(true);

      const tag = 'tailor-image-dev-env-bookworm-hotdog';
      const lines: string[] = [];
      // As the publish mode does: the built image, its registry and the recipe's repository.
      const built: BuiltImage = {
        imageName: image, name: 'dev-env', distribution: 'bookworm', organization: 'acme', releaseLabel: 'hotdog',
        timestamp: TIMESTAMP, buildType: 'docker', indexKey: 'docker', manifestPath: join(imagesDir, `${image}.manifest`),
        artifacts: [
          { ...dockerDigest, fileName: `${image}.docker.tar`, path: dockerTar, role: 'image' },
          { ...(await digestFile(ociTar)), fileName: `${image}.oci.tar`, path: ociTar, role: 'extra' },
        ],
      };
      // Pushed signed, as the publish mode does with --signing-key; podman then requires the signature.
      const lookaside = join(work, 'signatures');
      const signer = await OpenPgpSigner.fromFile(key.secretKeyFile, silentLog);
      const pushed = await signer.withSession(recordingLog(lines), (session) =>
        pushBuiltImage(built, { registry: `http://${registry.address}` }, { log: recordingLog(lines), signing: { session, lookasideDir: lookaside } }),
      );
      const policy = requireSignatures(work, registry.address, key.publicKeyFile, lookaside);
      expect(pushed.reference).toBe(`${registry.address}/acme:${tag}`);
      const layout = await openLayout(ociTar, join(work, 'dev-env-layout'));
      // Two layers: the shared base, finalized, and the recipe's changes.
      expect(layout.layers.length).toBe(2);
      expect(layout.config.rootfs.diff_ids.length).toBe(2);
      expect(finalizeLeftovers(await layerListing(layout.layers[0]))).toEqual([]);
      // The registry holds exactly the manifest that was built (digests preserved).
      expect(pushed.digest).toBe(layout.manifestDigest);
      const tags = (await (await fetch(`${registry.url}/v2/acme/tags/list`)).json()) as { tags: string[] };
      expect(tags.tags).toContain(tag);

      try {
        await podman.run(['pull', '--quiet', '--tls-verify=false', '--signature-policy', policy.policyFile, pushed.reference]);
        // The same image under another tag, unsigned (another manifest digest): refused.
        await exec('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--format', 'v2s2', `oci-archive:${ociTar}`, `docker://${registry.address}/acme:unsigned`]);
        const refused = await podman.run(['pull', '--quiet', '--tls-verify=false', '--signature-policy', policy.policyFile, `${registry.address}/acme:unsigned`]).then(
          () => 'pulled',
          (error: { stderr?: string }) => String(error.stderr),
        );
        expect(refused).toMatch(/signature was required|signature/i);
      } finally {
        policy.remove();
      }
      // The SBOMs list exactly the image's dpkg database, as dpkg-query reads it in the container.
      const dpkg = (await podman.runIn(pushed.reference, "dpkg-query --show --showformat='${db:Status-Status} ${Package} ${Version} ${Architecture}\\n'"))
        .split('\n').filter((line) => line.startsWith('installed ')).map((line) => line.slice('installed '.length)).sort();
      expect(dpkg.length).toBeGreaterThan(100);
      expect(spdxPackageList(spdx)).toEqual(dpkg);
      expect(cyclonedxPackageList(cdx)).toEqual(dpkg);
      // No private key material in the image's files, the store, the signatures or any log.
      await podman.run(['create', '--name', 'key-scan', pushed.reference]);
      await podman.run(['export', '--output', join(work, 'dev-env-fs.tar'), 'key-scan']);
      await podman.run(['rm', 'key-scan']);
      expect(filesHolding(key.secretMarkers, [join(work, 'dev-env-fs.tar'), storage, lookaside])).toEqual([]);
      const logged = Buffer.from(`${result.stdout}\n${result.stderr}\n${lines.join('\n')}`);
      expect(key.secretMarkers.filter((marker) => logged.includes(marker))).toEqual([]);
      rmSync(join(work, 'dev-env-fs.tar'), { force: true });
      const output = await podman.runIn(
        pushed.reference,
        'echo "user=$(whoami)"; echo "pwd=$(pwd)"; grep ^VERSION_CODENAME= /etc/os-release; ' +
          'echo "bundle_root=$BUNDLE_ROOT"; echo "lang=$LANG"; git --version | cut -d" " -f1-2; cat /etc/motd',
      );
      expect(output).toContain('user=developer\n');
      expect(output).toContain('pwd=/home/developer\n');
      expect(output).toContain('VERSION_CODENAME=bookworm\n');
      expect(output).toContain('bundle_root=/opt/acme/hotdog/dev-env\n');
      expect(output).toContain('lang=C.UTF-8\n');
      expect(output).toContain('git version'); // a recipe package (the playbook ensures it too)
      expect(output).toContain('tailor-image dev-env');

      // The image's metadata as the issue asks for it.
      const config = layout.config.config;
      expect(config.User).toBe('developer');
      expect(config.Entrypoint).toEqual(['/usr/local/bin/tailor-entrypoint']);
      expect(config.Cmd).toEqual(['bash']);
      expect(config.Labels).toMatchObject({
        tailor: 'docker_image',
        'org.opencontainers.image.created': '2026-01-01T12:00:00Z',
        'org.opencontainers.image.title': image,
      });
      expect(Object.keys(config.Labels)).toEqual(
        expect.arrayContaining(['org.opencontainers.image.version', 'org.opencontainers.image.source']),
      );
      // The layout names the full reference from --docker-registry (the build itself pushes only with --publish).
      const index = JSON.parse(readFileSync(join(work, 'dev-env-layout', 'index.json'), 'utf8'));
      expect(index.manifests[0].annotations['io.containerd.image.name']).toBe(`${registry.address}/acme:${tag}`);
    }, BUILD_TIMEOUT + 5 * 60 * 1000);

    test('secrets in the build environment reach no layer, config or log; the entrypoint sources the bundle setup', async () => {
      const cwd = join(work, 'secrets');
      mkdirSync(cwd);
      const builds = join(work, 'secret-builds');
      const result = await runCreateImage(
        ['--recipes-path', FIXTURE_CATALOG, '--name', 'docker-secrets', '--distribution', 'bookworm', '--build-only',
          '--timestamp', TIMESTAMP, '--work-dir', builds, '--keep-work-dir', '--verbose'],
        { cwd, timeoutMs: BUILD_TIMEOUT, env: { ...secrets, TAILOR_REGISTRY_USERNAME: registryUser } },
      );
      secretsWorkDir = existsSync(builds) ? readdirSync(builds).map((d) => join(builds, d))[0] : undefined;
      expectSuccess(result);
      const image = `acme_docker-secrets_bookworm_e2e_${TIMESTAMP}`;
      const { dockerTar, ociTar } = builtFiles(join(cwd, 'images'), image);
      const needles = Object.values(secrets);
      const controls = ['TAILOR_BUNDLE_LOADED=from-ros2-setup', 'tester:x:'];

      // The user's password was used: the account has a crypt hash, not the clear value.
      const shadow = readFileSync(join(secretsWorkDir!, 'rootfs', 'etc', 'shadow'), 'utf8');
      expect(shadow).toMatch(/^tester:\$[0-9a-z]+\$/m);

      const layout = await openLayout(ociTar, join(work, 'secrets-layout'));
      expect(layout.layers.length).toBe(2);
      const seen = new Set<string>();
      for (const layer of layout.layers) {
        const found = await scanLayer(layer, [...needles, ...controls]);
        found.forEach((n) => seen.add(n));
        expect([...found].filter((n) => needles.includes(n))).toEqual([]);
      }
      // The scan reads file contents: the bundle's setup.bash and /etc/passwd are seen (in the changes layer).
      expect([...seen].filter((n) => controls.includes(n)).sort()).toEqual([...controls].sort());
      for (const file of [...layout.files, dockerTar, ociTar]) {
        expect([...(await scanFile(file, needles))]).toEqual([]);
      }
      const configText = JSON.stringify(layout.config);
      for (const needle of needles) expect(configText).not.toContain(needle);
      for (const needle of needles) {
        expect(result.stdout).not.toContain(needle);
        expect(result.stderr).not.toContain(needle);
      }
      expect(layout.config.config.Env).toEqual(expect.arrayContaining(['BUNDLE_ROOT=/opt/acme/e2e/bundle', 'GREETING=hello']));

      // Push with basic auth from the environment: the password goes through an auth file only.
      const lines: string[] = [];
      const pushed = await pushImage({
        source: dockerTar, registry: authRegistry.address, name: 'acme/secrets:e2e',
        env: { TAILOR_REGISTRY_USERNAME: registryUser, TAILOR_REGISTRY_PASSWORD: secrets.TAILOR_REGISTRY_PASSWORD },
        log: recordingLog(lines),
      });
      expect(pushed.digest).toBe(layout.manifestDigest);
      expect(lines.join('\n')).toContain(`skopeo`);
      for (const needle of needles) expect(lines.join('\n')).not.toContain(needle);
      const anonymous = await fetch(`${authRegistry.url}/v2/acme/secrets/tags/list`);
      expect(anonymous.status).toBe(401);
      await expect(
        pushImage({ source: dockerTar, registry: authRegistry.address, name: 'acme/secrets:anonymous', env: {}, log: recordingLog([]) }),
      ).rejects.toThrow(/skopeo copy to .* failed/);

      // The entrypoint sources $BUNDLE_ROOT/ros2/setup.bash before running the command.
      const loaded = await podman.run(['load', '--input', dockerTar]);
      const loadedAs = /Loaded image(?:\(s\))?: (\S+)/.exec(loaded)?.[1];
      expect(loadedAs).toMatch(/acme:tailor-image-docker-secrets-bookworm-e2e$/);
      const output = await podman.runIn(
        loadedAs!,
        'echo "user=$(whoami)"; echo "loaded=$TAILOR_BUNDLE_LOADED"; echo "greeting=$GREETING"',
      );
      expect(output).toBe('user=tester\nloaded=from-ros2-setup\ngreeting=hello\n');
    }, BUILD_TIMEOUT + 5 * 60 * 1000);

    test('the same rootfs packed twice gives identical layer, config and manifest digests', async () => {
      if (!secretsWorkDir) throw new Error('the secrets build left no work directory to pack again');
      // The request create_image made for that build.
      const command = createImageCommand('test');
      command.parse(
        ['--recipes-path', FIXTURE_CATALOG, '--name', 'docker-secrets', '--distribution', 'bookworm', '--build-only',
          '--timestamp', TIMESTAMP, '--work-dir', work],
        { from: 'user' },
      );
      const request = resolveRequest(command.opts<CreateImageOptions>());
      const { recipe, distribution: bookworm } = request;
      // The build kept its overlay's upper dir and says where its base layer is.
      const layers = JSON.parse(readFileSync(join(secretsWorkDir, 'layers.json'), 'utf8'));
      const packOnce = async (label: string) => {
        const dir = join(work, `repack-${label}`);
        mkdirSync(join(dir, 'staging'), { recursive: true });
        mkdirSync(join(dir, 'scratch'), { recursive: true });
        const input = {
          request, recipe, distribution: bookworm, rootfs: join(secretsWorkDir!, 'rootfs'), layers,
          stagingDir: join(dir, 'staging'), scratchDir: join(dir, 'scratch'),
          log: recordingLog([]), signal: new AbortController().signal, cleanups: new CleanupStack(),
        };
        const files = await ociPacker.pack(input);
        const digests = await Promise.all(files.map(async (f) => (await digestFile(f.path)).sha256));
        const layout = await openLayout(files[1].path, join(dir, 'layout'));
        return { files: digests, manifest: layout.manifestDigest, config: layout.configDigest, layers: layout.layerDigests, diffIds: layout.config.rootfs.diff_ids };
      };
      const first = await packOnce('a');
      const second = await packOnce('b');
      expect(second).toEqual(first);
      // ...and equal to what create_image packed from this rootfs in the previous test.
      const built = await openLayout(
        join(work, 'secrets', 'images', `acme_docker-secrets_bookworm_e2e_${TIMESTAMP}.oci.tar`),
        join(work, 'secrets-layout-again'),
      );
      expect(built.manifestDigest).toBe(first.manifest);
      // A different build time changes the image (the timestamp really is used).
      const layoutDir = join(work, 'repack-other');
      mkdirSync(join(layoutDir, 'scratch'), { recursive: true });
      const other = await buildOciLayout(
        {
          request: { ...request, timestamp: '20260102.120000' },
          rootfs: join(secretsWorkDir, 'rootfs'), layers, stagingDir: layoutDir, scratchDir: join(layoutDir, 'scratch'),
          log: recordingLog([]), signal: new AbortController().signal, cleanups: new CleanupStack(),
        },
        join(layoutDir, 'layout'),
      );
      expect(other.manifest.digest).not.toBe(first.manifest);
      // Another version on the same base: the very same base layer (a registry that has it gets none of it), new changes.
      expect(first.layers.length).toBe(2);
      expect(other.layers[0].digest).toBe(first.layers[0]);
      expect(other.layers[1].digest).not.toBe(first.layers[1]);
    }, 10 * 60 * 1000);
  },
);
