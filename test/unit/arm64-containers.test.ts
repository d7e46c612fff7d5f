import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { BuildRequest } from '../../lib/builder/request';
import { referenceFor } from '../../lib/builder/packers/oci';
import { ociArchitecture } from '../../lib/builder/packers/oci/image-config';
import { lxdMetadata } from '../../lib/builder/packers/lxd';
import { containerArchitectureProblem } from '../../lib/builder/image-tests/architecture-rule';
import { createImageCommand, CreateImageOptions } from '../../lib/cli/create-image-options';
import { resolveRun } from '../../lib/cli/resolve-request';
import { imageIndexManifest, multiArchImages, OCI_INDEX_MEDIA_TYPE } from '../../lib/storage/registry/image-index';
import { IndexEntry, TailorIndex, withEntry } from '../../lib/storage/indexes/tailor-index';

/** The requests create_image makes for these flags. */
function requests(args: string[]): BuildRequest[] {
  const command = createImageCommand('test');
  command.parse([...args, '--timestamp', '20261202.080000'], { from: 'user' });
  return resolveRun(command.opts<CreateImageOptions>(), new Date('2026-12-02T08:00:00Z')).requests;
}

describe('arm64 container images: the build gives the architecture', () => {
  const [amd64, arm64] = requests(['--name', 'dev-env', '--distribution', 'bookworm', '--arch', 'amd64', '--arch', 'arm64']);

  test('the OCI config architecture is the build\'s, not the host\'s', () => {
    expect(ociArchitecture(amd64)).toBe('amd64');
    expect(ociArchitecture(arm64)).toBe('arm64');
  });

  test('an arm64 archive is tagged with its own name field; amd64 keeps the usual tag', () => {
    expect(referenceFor(amd64).tag).toBe('tailor-image-dev-env-bookworm-hotdog');
    expect(referenceFor(arm64).tag).toBe('tailor-image-dev-env-arm64-bookworm-hotdog');
  });

  test('lxd metadata.yaml says aarch64 (arm64 in its properties) for an arm64 build, x86_64 for amd64', () => {
    const [webappAmd64, webappArm64] = requests(['--name', 'webapp', '--distribution', 'bookworm', '--arch', 'amd64', '--arch', 'arm64']);
    const meta = (request: BuildRequest) => parse(lxdMetadata({ request })) as { architecture: string; properties: Record<string, string> };
    expect(meta(webappArm64).architecture).toBe('aarch64');
    expect(meta(webappArm64).properties).toMatchObject({ architecture: 'arm64', name: 'acme_webapp-arm64_bookworm_hotdog_20261202.080000' });
    expect(meta(webappAmd64).architecture).toBe('x86_64');
    expect(meta(webappAmd64).properties.architecture).toBe('amd64');
  });
});

describe('the multi-arch image index', () => {
  const digest = (c: string) => `sha256:${c.repeat(64)}`;
  const docker = (file: string, reference?: string, arch?: string): IndexEntry =>
    ({ file, checksum: 'md5', build_type: 'docker', ...(arch ? { arch } : {}), ...(reference ? { reference } : {}) });
  const slot = (name: string, timestamp = '20261202.080000') => ({ timestamp, key: 'docker', name, distribution: 'bookworm' });
  const ref = (c: string) => `127.0.0.1:5000/acme@${digest(c)}`;
  let index: TailorIndex = {};
  index = withEntry(index, slot('dev-env'), docker('acme_dev-env_bookworm_hotdog_20261202.080000', ref('a')));

  test('one architecture: no index, the usual tag stays the amd64 image as before', () => {
    expect(multiArchImages(index, slot('dev-env'))).toBeUndefined();
  });

  test('both architectures of the newest build pushed: both listed, amd64 first, whichever was stored last', () => {
    const both = withEntry(index, slot('dev-env-arm64'), docker('acme_dev-env-arm64_bookworm_hotdog_20261202.080000', ref('b'), 'arm64'));
    const expected = [
      { architecture: 'amd64', reference: ref('a'), imageName: 'acme_dev-env_bookworm_hotdog_20261202.080000' },
      { architecture: 'arm64', reference: ref('b'), imageName: 'acme_dev-env-arm64_bookworm_hotdog_20261202.080000' },
    ];
    expect(multiArchImages(both, slot('dev-env-arm64'))).toEqual(expected);
    expect(multiArchImages(both, slot('dev-env'))).toEqual(expected);
    // Another distribution, another recipe, or lxd images do not count.
    expect(multiArchImages(both, { ...slot('dev-env'), distribution: 'jammy' })).toBeUndefined();
    expect(multiArchImages(both, { ...slot('dev-env'), key: 'raw' })).toBeUndefined();
  });

  test('an older build stored after a newer one never sets the usual tag back', () => {
    let mixed = withEntry(index, slot('dev-env', '20261203.080000'), docker('acme_dev-env_bookworm_hotdog_20261203.080000', ref('c')));
    mixed = withEntry(mixed, slot('dev-env-arm64'), docker('acme_dev-env-arm64_bookworm_hotdog_20261202.080000', ref('b'), 'arm64'));
    expect(multiArchImages(mixed, slot('dev-env-arm64'))).toBeUndefined();
  });

  test('entries without a pinned reference (not pushed, or old tailor) are left out', () => {
    const unpinned = withEntry(index, slot('dev-env-arm64'), docker('acme_dev-env-arm64_bookworm_hotdog_20261202.080000', '127.0.0.1:5000/acme:tag', 'arm64'));
    expect(multiArchImages(unpinned, slot('dev-env-arm64'))).toBeUndefined();
    const unpushed = withEntry(index, slot('dev-env-arm64'), docker('acme_dev-env-arm64_bookworm_hotdog_20261202.080000', undefined, 'arm64'));
    expect(multiArchImages(unpushed, slot('dev-env-arm64'))).toBeUndefined();
  });

  test('the index manifest: OCI media type, each child with its platform, a fixed order and bytes', () => {
    const children = [
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digest('b'), size: 700, architecture: 'arm64' as const },
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digest('a'), size: 650, architecture: 'amd64' as const },
    ];
    const text = imageIndexManifest(children);
    expect(JSON.parse(text)).toEqual({
      schemaVersion: 2,
      mediaType: OCI_INDEX_MEDIA_TYPE,
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digest('a'), size: 650, platform: { architecture: 'amd64', os: 'linux' } },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digest('b'), size: 700, platform: { architecture: 'arm64', os: 'linux' } },
      ],
    });
    expect(OCI_INDEX_MEDIA_TYPE).toBe('application/vnd.oci.image.index.v1+json');
    expect(imageIndexManifest([...children].reverse())).toBe(text);
    expect(() => imageIndexManifest([children[0], children[0]])).toThrow(/each architecture once/);
  });
});

describe('the test gate for another architecture', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tailor-binfmt-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const registered = (flags: string) => {
    writeFileSync(join(dir, 'status'), 'enabled\n');
    writeFileSync(join(dir, 'qemu-aarch64'), `enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: ${flags}\n`);
  };

  test('podman runs an arm64 image on amd64 when binfmt can run arm64 programs, else says why', () => {
    rmSync(join(dir, 'status'), { force: true });
    expect(containerArchitectureProblem('podman', 'arm64', { nodeArch: 'x64', binfmtDir: dir })).toMatch(/^an arm64 image on this amd64 host: .*no binfmt_misc mounted/);
    registered('P');
    expect(containerArchitectureProblem('podman', 'arm64', { nodeArch: 'x64', binfmtDir: dir })).toMatch(/without the F flag/);
    registered('PF');
    // arch-test (when installed) asks the real host, whose binfmt the unit test cannot fake.
    const onHost = containerArchitectureProblem('podman', 'arm64', { nodeArch: 'x64', binfmtDir: dir });
    expect(onHost === undefined || /arch-test says/.test(onHost)).toBe(true);
  });

  test('LXD and podman-systemd never run an arm64 image on amd64; the host\'s own architecture is always fine', () => {
    expect(containerArchitectureProblem('lxd', 'arm64', { nodeArch: 'x64' })).toBe('an arm64 image on this amd64 host: LXD launches only images of its host\'s architecture');
    expect(containerArchitectureProblem('podman-systemd', 'arm64', { nodeArch: 'x64' })).toMatch(/does not boot a foreign systemd/);
    expect(containerArchitectureProblem('lxd', 'arm64', { nodeArch: 'arm64' })).toBeUndefined();
    expect(containerArchitectureProblem('lxd', 'amd64', { nodeArch: 'x64' })).toBeUndefined();
    expect(containerArchitectureProblem('qemu', 'arm64', { nodeArch: 'x64' })).toBeUndefined();
  });
});
