import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { expectOneLineFailure, runCreateImage } from '../support/cli';
import { hostArchitecture } from '../../lib/core/architecture';
import { lxc, lxdPrerequisites } from '../support/lxd';
import { Podman } from '../support/podman';
import { commandSucceeds, describeWith, rootUser, tool } from '../support/prereq';
import { configOf, resolvedPlatform, startRegistry, TestRegistry } from '../support/registry';
import { rgwPrerequisites, useRgw } from '../support/rgw';
import { objectBytes, readIndex } from '../support/s3-inspect';
import { RunningServe, startServe } from '../support/serve';
import { makeTestTls, trustCaOnHost } from '../support/test-ca';
import { TailorIndex } from '../../lib/storage/indexes/tailor-index';

const exec = promisify(execFile);
const TIMESTAMP = '20261201.093000';
const LABEL = 'arm';
const BUCKET = 'arm64-images';
const BUILD_TIMEOUT = 30 * 60 * 1000;
const USUAL_TAG = `tailor-image-dev-env-bookworm-${LABEL}`;
const ARM64_TAG = `tailor-image-dev-env-arm64-bookworm-${LABEL}`;
const imageName = (nameField: string) => `acme_${nameField}_bookworm_${LABEL}_${TIMESTAMP}`;
const digestOf = (reference: string | undefined) => reference?.slice(reference.lastIndexOf('@') + 1);

/**
 * issue 16, containers: ONE `create_image --publish` run builds the bundled dev-env
 * (docker) and webapp (lxd) for amd64 and arm64 (arm64 by qemu-user emulation) on
 * bookworm, with the shared test bootstrap cache. --no-test: the gate's runtime choice for
 * arm64 (podman through binfmt for docker, none for lxd on an amd64 host) is unit-tested in
 * test/unit/arm64-containers.test.ts; the podman run below is what the gate would do.
 */
describeWith(
  'arm64 container images: a multi-arch docker index in the registry, an aarch64 LXD image beside the amd64 one',
  [...rgwPrerequisites, tool('mmdebstrap'), tool('skopeo'), tool('podman'), tool('runc'), tool('docker-registry'), tool('openssl'),
    tool('update-ca-certificates', 'ca-certificates'), rootUser(), ...lxdPrerequisites(),
    commandSucceeds('arch-test arm64 (qemu-user-static + binfmt-support)', 'arch-test', ['arm64'])],
  () => {
    const rgw = useRgw([BUCKET]);
    const work = mkdtempSync(join(tmpdir(), 'tailor-arm64-containers-'));
    const podman = new Podman();
    let registry: TestRegistry;
    let index: TailorIndex;
    const aliases: string[] = [];

    beforeAll(async () => {
      registry = await startRegistry();
      const result = await runCreateImage(
        ['--name', 'dev-env', '--name', 'webapp', '--arch', 'amd64', '--arch', 'arm64', '--distribution', 'bookworm',
          '--publish', '--bucket', BUCKET, '--organization', 'acme', '--release-label', LABEL, '--timestamp', TIMESTAMP, '--no-test',
          '--docker-registry', `http://${registry.address}`, '--work-dir', join(work, 'builds')],
        { env: { ...rgw.server.env, NODE_NO_WARNINGS: '1' }, cwd: work, timeoutMs: BUILD_TIMEOUT },
      );
      if (result.code !== 0) throw new Error(`create_image failed (${result.code}): ${result.stderr.slice(-2000)}`);
      index = (await readIndex(rgw.s3, BUCKET, LABEL))!;
    }, BUILD_TIMEOUT + 120000);

    afterAll(async () => {
      for (const alias of aliases) await lxc(['image', 'delete', alias]).catch(() => undefined);
      await podman.remove();
      await registry?.stop();
      rmSync(work, { recursive: true, force: true });
    }, 120000);

    const entry = (name: string) => index[TIMESTAMP]?.[name.startsWith('dev-env') ? 'docker' : 'raw']?.[name]?.bookworm;

    test('each architecture is indexed and pushed under its own tag (amd64 under the usual one, as before)', async () => {
      expect(entry('dev-env')).toMatchObject({ file: imageName('dev-env'), build_type: 'docker' });
      expect(entry('dev-env')?.arch).toBeUndefined();
      expect(entry('dev-env-arm64')).toMatchObject({ file: imageName('dev-env-arm64'), arch: 'arm64' });
      for (const name of ['dev-env', 'dev-env-arm64']) expect(entry(name)?.reference).toMatch(new RegExp(`^${registry.address.replace(/\./g, '\\.')}/acme@sha256:[0-9a-f]{64}$`));
      const tags = ((await (await fetch(`${registry.url}/v2/acme/tags/list`)).json()) as { tags: string[] }).tags;
      expect(tags).toEqual(expect.arrayContaining([USUAL_TAG, ARM64_TAG]));
      const inspected = JSON.parse((await exec('skopeo', ['inspect', '--tls-verify=false', `docker://${registry.address}/acme:${ARM64_TAG}`])).stdout) as { Digest: string; Architecture: string };
      expect(inspected).toMatchObject({ Digest: digestOf(entry('dev-env-arm64')?.reference), Architecture: 'arm64' });
    });

    test('the usual tag is an OCI image index of both manifests, and pulls by --arch resolve to each', async () => {
      const answer = await fetch(`${registry.url}/v2/acme/manifests/${USUAL_TAG}`, { headers: { accept: 'application/vnd.oci.image.index.v1+json' } });
      expect(answer.headers.get('content-type')).toBe('application/vnd.oci.image.index.v1+json');
      const manifest = (await answer.json()) as { mediaType: string; manifests: { digest: string; mediaType: string; platform: unknown }[] };
      expect(manifest.manifests).toEqual([
        expect.objectContaining({ digest: digestOf(entry('dev-env')?.reference), mediaType: 'application/vnd.oci.image.manifest.v1+json', platform: { architecture: 'amd64', os: 'linux' } }),
        expect.objectContaining({ digest: digestOf(entry('dev-env-arm64')?.reference), platform: { architecture: 'arm64', os: 'linux' } }),
      ]);
      for (const [arch, name] of [['amd64', 'dev-env'], ['arm64', 'dev-env-arm64']]) {
        const resolved = await resolvedPlatform(`docker://${registry.address}/acme:${USUAL_TAG}`, arch, ['--tls-verify=false']);
        expect({ arch, ...resolved }).toEqual({ arch, architecture: arch, config: await configOf(`docker://${entry(name)!.reference!}`, ['--tls-verify=false']) });
      }
    });

    test('podman pull --arch arm64 of the usual tag runs the arm64 dev-env through binfmt: uname -m says aarch64', async () => {
      await podman.run(['pull', '--quiet', '--tls-verify=false', '--arch', 'arm64', `${registry.address}/acme:${USUAL_TAG}`]);
      const out = await podman.runIn(`${registry.address}/acme:${USUAL_TAG}`, 'uname -m; id -un; git --version | cut -d" " -f1-2', ['--arch', 'arm64']);
      expect(out.trim().split('\n')).toEqual(['aarch64', 'developer', 'git version']);
    }, 600000);

    test('the arm64 webapp imports into LXD as aarch64', async () => {
      expect(entry('webapp-arm64')).toMatchObject({ file: imageName('webapp-arm64'), arch: 'arm64', build_type: 'lxd' });
      const file = join(work, `${imageName('webapp-arm64')}.tar.gz`);
      writeFileSync(file, await objectBytes(rgw.s3, BUCKET, `${LABEL}/images/${imageName('webapp-arm64')}.tar.gz`));
      const alias = `tailor-arm64-${process.pid}`;
      aliases.push(alias);
      await lxc(['image', 'import', file, '--alias', alias], 600000);
      const info = await lxc(['image', 'info', alias]);
      expect(info).toMatch(/^Architecture: aarch64$/m);
      expect(info).toMatch(new RegExp(`^Fingerprint: ${entry('webapp-arm64')!.sha256}$`, 'm'));
    }, 700000);

    test('--test for an arm64 lxd image on an amd64 host fails in verify with one line, before any work', async () => {
      if (hostArchitecture() !== 'amd64') return; // On an arm64 host LXD runs it: nothing to refuse.
      const store = join(work, 'gate-store');
      const result = await runCreateImage(
        ['--name', 'webapp', '--arch', 'arm64', '--distribution', 'bookworm', '--local-storage', '--local-storage-path', store, '--test', '--work-dir', join(work, 'builds')],
        { cwd: work, timeoutMs: 120000 },
      );
      expectOneLineFailure(result, /--test: this host cannot run lxd images to test them \(lxd: an arm64 image on this amd64 host: LXD launches only images of its host's architecture; podman-systemd: /, 1);
      expect(result.stderr).not.toMatch(/bootstrap: started/);
    }, 180000);

    test('the streams list the arm64 product beside the amd64 one under the same aliases, and LXD reads both', async () => {
      const streams = JSON.parse((await objectBytes(rgw.s3, BUCKET, 'streams/v1/images.json')).toString('utf8')) as { products: Record<string, { aliases: string; arch: string }> };
      expect(streams.products['webapp:bookworm:default:amd64']).toMatchObject({ aliases: 'webapp/bookworm,webapp/bookworm/default', arch: 'amd64' });
      expect(streams.products['webapp:bookworm:default:arm64']).toMatchObject({ aliases: 'webapp/bookworm,webapp/bookworm/default', arch: 'arm64' });

      // The bucket's streams and the two tarballs, served over HTTPS as a store is (LXD takes HTTPS remotes only).
      const root = join(work, 'mirror');
      const keys = ['streams/v1/index.json', 'streams/v1/images.json', ...['webapp', 'webapp-arm64'].map((n) => `${LABEL}/images/${imageName(n)}.tar.gz`)];
      for (const key of keys) {
        mkdirSync(dirname(join(root, key)), { recursive: true });
        writeFileSync(join(root, key), await objectBytes(rgw.s3, BUCKET, key));
      }
      const tls = makeTestTls(work);
      const untrust = trustCaOnHost(tls.caCert, `tailor-image-arm64-${process.pid}`);
      const lxcConf = join(work, 'lxc-config');
      mkdirSync(join(lxcConf, 'servercerts'), { recursive: true });
      let server: RunningServe | undefined;
      const remote = `tailor-arm64-${process.pid}`;
      const client = async (args: string[]) => (await exec('lxc', args, { env: { ...process.env, LXD_CONF: lxcConf }, timeout: 120000, maxBuffer: 16 << 20 })).stdout;
      try {
        server = await startServe(root, tls.cert, tls.key);
        copyFileSync(tls.caCert, join(lxcConf, 'servercerts', `${remote}.crt`));
        await client(['remote', 'add', remote, server.url, '--protocol', 'simplestreams', '--public']);
        const listed = (JSON.parse(await client(['image', 'list', `${remote}:`, '--format', 'json'])) as { fingerprint: string; architecture: string; aliases: { name: string }[] }[])
          .map((image) => ({ architecture: image.architecture, fingerprint: image.fingerprint, aliases: image.aliases.map((a) => a.name).sort() }))
          .sort((a, b) => a.architecture.localeCompare(b.architecture));
        // LXD gives the shared aliases to this (amd64) host's architecture and the /arm64 forms to the other.
        expect(listed).toEqual([
          { architecture: 'aarch64', fingerprint: entry('webapp-arm64')!.sha256, aliases: ['webapp/bookworm/arm64', 'webapp/bookworm/default/arm64'] },
          { architecture: 'x86_64', fingerprint: entry('webapp')!.sha256, aliases: ['webapp/bookworm', 'webapp/bookworm/amd64', 'webapp/bookworm/default', 'webapp/bookworm/default/amd64'] },
        ]);
        expect(await client(['image', 'info', `${remote}:webapp/bookworm/arm64`])).toMatch(/^Architecture: aarch64$/m);
        // The alias both products share resolves to this (amd64) host's build, as `lxc launch acme:webapp/bookworm` does.
        const info = await client(['image', 'info', `${remote}:webapp/bookworm`]);
        expect(info).toMatch(new RegExp(`^Fingerprint: ${entry('webapp')!.sha256}$`, 'm'));
        expect(info).toMatch(/^Architecture: x86_64$/m);
      } finally {
        await exec('lxc', ['remote', 'remove', remote], { env: { ...process.env, LXD_CONF: lxcConf } }).catch(() => undefined);
        await server?.stop();
        if (server) rmSync(join('/var/cache/lxd', createHash('sha256').update(server.url).digest('hex')), { recursive: true, force: true });
        untrust();
      }
    }, 300000);
  },
);
