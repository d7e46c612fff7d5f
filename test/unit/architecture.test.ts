import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createImageCommand, CreateImageOptions } from '../../lib/cli/create-image-options';
import { resolveRun } from '../../lib/cli/resolve-request';
import { archNameField, checkRecipeName, hostArchitecture, splitArchNameField } from '../../lib/core/architecture';
import { UsageError } from '../../lib/core/errors';
import { BuiltImage } from '../../lib/core/image';
import { parseImageName } from '../../lib/core/naming';
import { bootstrapSpecOf } from '../../lib/builder/bootstrap-spec';
import { baseGroupKey } from '../../lib/builder/base-rootfs';
import { bootstrapKeyOf } from '../../lib/builder/mmdebstrap';
import { findOnPath } from '../../lib/core/host-tools';
import { silentLog } from '../../lib/core/log';
import { foreignArchProblem } from '../../lib/builder/foreign-arch';
import { entryFor, withEntry, TailorIndex } from '../../lib/storage/indexes/tailor-index';
import { buildStreamFiles, streamImagesFromIndex, STREAMS_IMAGES_PATH } from '../../lib/storage/indexes/simplestreams';

const NOW = new Date(Date.UTC(2026, 11, 2, 8, 0, 0));

function parseFlags(args: string[]): CreateImageOptions {
  const command = createImageCommand('0.0.0-test');
  command.configureOutput({ writeErr: () => undefined, writeOut: () => undefined, outputError: () => undefined });
  command.parse(args, { from: 'user' });
  return command.opts<CreateImageOptions>();
}
const run = (args: string[]) => resolveRun(parseFlags(args), NOW);

describe('architectures', () => {
  test('amd64 is the default and its names are what they always were', () => {
    const [request] = run(['--name', 'webapp', '--distribution', 'bookworm']).requests;
    expect(request).toMatchObject({ architecture: 'amd64', nameField: 'webapp', imageName: 'acme_webapp_bookworm_hotdog_20261202.080000' });
  });

  test('several --arch build each image for each, names outer; arm64 goes into the name field', () => {
    const { requests } = run(['--name', 'webapp', '--name', 'dev-env', '--distribution', 'bookworm', '--arch', 'amd64', '--arch', 'arm64']);
    expect(requests.map((r) => [r.name, r.architecture, r.imageName])).toEqual([
      ['webapp', 'amd64', 'acme_webapp_bookworm_hotdog_20261202.080000'],
      ['webapp', 'arm64', 'acme_webapp-arm64_bookworm_hotdog_20261202.080000'],
      ['dev-env', 'amd64', 'acme_dev-env_bookworm_hotdog_20261202.080000'],
      ['dev-env', 'arm64', 'acme_dev-env-arm64_bookworm_hotdog_20261202.080000'],
    ]);
    // The five fields tailor consumers split on stay five.
    expect(parseImageName(requests[1].imageName)).toMatchObject({ name: 'webapp-arm64', distribution: 'bookworm' });
  });

  test('an architecture the recipe does not list, an unknown or repeated one, and a name with an arch suffix are usage errors', () => {
    const ami = join(__dirname, '..', 'fixtures', 'rosdistro');
    expect(() => run(['--name', 'legacy-ami', '--distribution', 'bookworm', '--rosdistro-path', ami, '--arch', 'arm64'])).toThrow(
      /image "legacy-ami" is not built for arm64 \(its architectures: amd64\)/,
    );
    expect(() => run(['--name', 'webapp', '--distribution', 'bookworm', '--arch', 'riscv64'])).toThrow(/--arch "riscv64" is not an architecture \(amd64, arm64\)/);
    expect(() => run(['--name', 'webapp', '--distribution', 'bookworm', '--arch', 'arm64', '--arch', 'arm64'])).toThrow(/--arch arm64 is given twice/);
    expect(() => run(['--name', 'webapp-arm64', '--distribution', 'bookworm'])).toThrow(UsageError);
    expect(() => checkRecipeName('tools-amd64')).toThrow(/must not end in "-amd64"/);
    expect(checkRecipeName('arm64-tools')).toBe('arm64-tools');
  });

  test('the name field splits back into recipe and architecture', () => {
    expect(archNameField('webapp', 'amd64')).toBe('webapp');
    expect(splitArchNameField(archNameField('webapp', 'arm64'))).toEqual({ name: 'webapp', architecture: 'arm64' });
    expect(splitArchNameField('webapp')).toEqual({ name: 'webapp', architecture: 'amd64' });
    expect(hostArchitecture('x64')).toBe('amd64');
    expect(hostArchitecture('arm64')).toBe('arm64');
    expect(hostArchitecture('riscv64')).toBeUndefined();
  });

  test('the two architectures share no base and no cache entry', async () => {
    const { requests } = run(['--name', 'webapp', '--distribution', 'bookworm', '--arch', 'amd64', '--arch', 'arm64']);
    const [amd, arm] = requests;
    expect(baseGroupKey(amd)).not.toBe(baseGroupKey(arm));
    const specs = requests.map((r) => bootstrapSpecOf(r, ['nginx']));
    expect(specs.map((s) => s.architecture)).toEqual(['amd64', 'arm64']);
    // The key asks mmdebstrap --version: CI installs it; elsewhere this part is left out.
    if (!findOnPath('mmdebstrap')) {
      if (process.env.CI === 'true') throw new Error('missing prerequisite: mmdebstrap (apt-get install mmdebstrap)');
      console.log('the cache-key part needs mmdebstrap (apt-get install mmdebstrap): left out');
      return;
    }
    const [a, b] = await Promise.all(specs.map((spec) => bootstrapKeyOf(spec, silentLog)));
    expect(a.input.architecture).toBe('amd64');
    expect(b.input.architecture).toBe('arm64');
    expect(a.key).not.toBe(b.key);
  });

  test('the index: an amd64 entry is as before, an arm64 one has its own slot and says its arch', () => {
    const built = (name: string, architecture: 'amd64' | 'arm64'): BuiltImage => ({
      imageName: `acme_${name}_bookworm_hotdog_20261202.080000`, name, architecture, distribution: 'bookworm', organization: 'acme',
      releaseLabel: 'hotdog', timestamp: '20261202.080000', buildType: 'lxd', indexKey: 'raw', manifestPath: '/x',
      artifacts: [{ fileName: `acme_${name}_bookworm_hotdog_20261202.080000.tar.gz`, path: '/x', role: 'image', md5: 'm', sha256: 'a'.repeat(64), size: 3 }],
    });
    const amd = entryFor(built('webapp', 'amd64'));
    const arm = entryFor(built('webapp-arm64', 'arm64'));
    expect(Object.keys(amd.entry)).toEqual(['file', 'checksum', 'artifact', 'sha256', 'size', 'build_type']);
    expect(arm.slot).toEqual({ timestamp: '20261202.080000', key: 'raw', name: 'webapp-arm64', distribution: 'bookworm' });
    expect(arm.entry.arch).toBe('arm64');

    let index: TailorIndex = {};
    index = withEntry(index, amd.slot, amd.entry);
    index = withEntry(index, arm.slot, arm.entry);
    const images = streamImagesFromIndex(index, 'hotdog');
    expect(images.map((i) => [i.name, i.arch])).toEqual([['webapp', undefined], ['webapp', 'arm64']]);
    const products = JSON.parse(buildStreamFiles(images).find((f) => f.path === STREAMS_IMAGES_PATH)!.body).products;
    expect(Object.keys(products).sort()).toEqual(['webapp:bookworm:default:amd64', 'webapp:bookworm:default:arm64']);
    expect(products['webapp:bookworm:default:arm64']).toMatchObject({ arch: 'arm64', aliases: 'webapp/bookworm,webapp/bookworm/default' });
    expect(products['webapp:bookworm:default:amd64'].aliases).toBe(products['webapp:bookworm:default:arm64'].aliases);
  });

  test('a foreign architecture needs qemu-user in binfmt_misc with the F flag; each gap is one line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'binfmt-'));
    const problem = () => foreignArchProblem('arm64', { nodeArch: 'x64', binfmtDir: dir });
    expect(foreignArchProblem('amd64', { nodeArch: 'x64', binfmtDir: dir })).toBeUndefined();
    expect(problem()).toMatch(/no binfmt_misc mounted \(mount -t binfmt_misc/);
    writeFileSync(join(dir, 'status'), 'enabled\n');
    expect(problem()).toMatch(/has no qemu-aarch64 in binfmt_misc \(install qemu-user-static and binfmt-support/);
    writeFileSync(join(dir, 'qemu-aarch64'), 'enabled\ninterpreter /usr/bin/qemu-aarch64\nflags: P\n');
    expect(problem()).toMatch(/without the F flag, so it cannot run inside a chroot/);
    writeFileSync(join(dir, 'qemu-aarch64'), 'disabled\ninterpreter /usr/bin/qemu-aarch64\nflags: PF\n');
    expect(problem()).toMatch(/disabled in binfmt_misc/);
    mkdirSync(join(dir, 'sub'));
    for (const message of [problem()]) expect(message!.split('\n')).toHaveLength(1);
  });
});
