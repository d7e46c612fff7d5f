import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildRequest } from '../../lib/builder/request';
import { containerUser, entrypointScript, imageTag, parseRegistry, referenceFor, repositoryName } from '../../lib/builder/packers/oci';
import { imageConfig, imageLabels, rfc3339 } from '../../lib/builder/packers/oci/image-config';
import { reproducibleTarArgs } from '../../lib/builder/packers/oci/layer';
import { RecipeSchema } from '../../lib/recipes/schema';
import { createImageCommand, CreateImageOptions } from '../../lib/cli/create-image-options';
import { resolveRequest } from '../../lib/cli/resolve-request';

function recipe(extra: Record<string, unknown> = {}) {
  return {
    ...RecipeSchema.parse({ build_type: 'docker', os_versions: ['bookworm'], user: { name: 'dev' }, ...extra }),
    name: 'dev-env', origin: '/catalog/images/dev-env.yaml', baseDir: '/catalog',
  };
}

/** A request as create_image makes it (bundled dev-env recipe), plus extra flags. */
function request(extraArgs: string[] = []): BuildRequest {
  const command = createImageCommand('test');
  command.parse(
    ['--name', 'dev-env', '--distribution', 'bookworm', '--flavour', 'dev', '--timestamp', '20260101.120000', ...extraArgs],
    { from: 'user' },
  );
  return resolveRequest(command.opts<CreateImageOptions>());
}

describe('registry references', () => {
  test('http:// and loopback hosts are insecure, others verify TLS', () => {
    expect(parseRegistry('http://registry.lab:5000')).toEqual({ registry: 'registry.lab:5000', host: 'registry.lab:5000', insecure: true });
    expect(parseRegistry('localhost:5000/team')).toEqual({ registry: 'localhost:5000/team', host: 'localhost:5000', insecure: true });
    expect(parseRegistry('123456789012.dkr.ecr.eu-west-1.amazonaws.com').insecure).toBe(false);
    expect(parseRegistry('https://ghcr.io/acme/')).toEqual({ registry: 'ghcr.io/acme', host: 'ghcr.io', insecure: false });
  });

  test('a malformed registry is a usage error', () => {
    expect(() => parseRegistry('not a registry')).toThrow(/--docker-registry "not a registry" is not a registry/);
    expect(() => parseRegistry('ftp://x')).toThrow(/is not a registry/);
  });

  test('the tag and reference follow tailor', () => {
    expect(imageTag({ name: 'dev-env', distribution: 'bookworm', releaseLabel: 'hotdog' })).toBe('tailor-image-dev-env-bookworm-hotdog');
    expect(referenceFor(request(['--docker-registry', 'http://127.0.0.1:5000'])).reference)
      .toBe('127.0.0.1:5000/acme:tailor-image-dev-env-bookworm-hotdog');
    expect(referenceFor(request()).reference).toBe('acme:tailor-image-dev-env-bookworm-hotdog');
    expect(repositoryName('Team/Robots', 'acme')).toBe('team/robots');
    expect(() => repositoryName('bad repo', 'acme')).toThrow(/not a valid registry repository/);
  });
});

describe('image config', () => {
  const facts = {
    request: request(), recipe: recipe({ docker: { env: { EDITOR: 'vi' }, labels: { team: 'robots' } } }),
    user: 'dev', home: '/home/dev', layers: [{ diffId: 'sha256:abc', comment: 'rootfs' }], epoch: 1767268800, architecture: 'amd64',
  };

  test('user, workdir, environment, entrypoint, command and labels', () => {
    const config = imageConfig(facts) as { created: string; config: Record<string, unknown> };
    expect(config.created).toBe('2026-01-01T12:00:00Z');
    expect(config.config).toEqual({
      User: 'dev',
      Env: [
        'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        'LANG=C.UTF-8',
        'BUNDLE_ROOT=/opt/acme/hotdog/dev',
        'EDITOR=vi',
      ],
      Entrypoint: ['/usr/local/bin/tailor-entrypoint'],
      Cmd: ['bash'],
      WorkingDir: '/home/dev',
      Labels: expect.objectContaining({
        tailor: 'docker_image',
        team: 'robots',
        'org.opencontainers.image.created': '2026-01-01T12:00:00Z',
        'org.opencontainers.image.version': 'hotdog-20260101.120000',
        'org.opencontainers.image.title': 'acme_dev-env_bookworm_hotdog_20260101.120000',
        'org.opencontainers.image.source': 'tailor-image:images/dev-env.yaml',
      }),
    });
  });

  test('the same facts give the same bytes', () => {
    expect(JSON.stringify(imageConfig(facts))).toBe(JSON.stringify(imageConfig({ ...facts })));
    expect(imageLabels(facts)['org.opencontainers.image.created']).toBe(rfc3339(1767268800));
  });
});

describe('the entrypoint script', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tailor-entrypoint-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function runEntrypoint(bundleDistro: string | undefined, bundleRoot: string, args: string[]): string {
    const script = join(dir, `entrypoint-${bundleDistro ?? 'none'}`);
    writeFileSync(script, entrypointScript(bundleDistro), { mode: 0o755 });
    return execFileSync(script, args, { env: { PATH: process.env.PATH, BUNDLE_ROOT: bundleRoot } }).toString();
  }

  test('sources <bundle_distro>/setup.bash, else setup.bash, then runs the command', () => {
    const root = join(dir, 'bundle');
    mkdirSync(join(root, 'ros2'), { recursive: true });
    writeFileSync(join(root, 'ros2', 'setup.bash'), 'export WHICH=ros2\n');
    writeFileSync(join(root, 'setup.bash'), 'export WHICH=top\n');
    expect(runEntrypoint('ros2', root, ['bash', '-c', 'echo "$WHICH $0"', 'arg0'])).toBe('ros2 arg0\n');
    expect(runEntrypoint(undefined, root, ['bash', '-c', 'echo $WHICH'])).toBe('top\n');
  });

  test('without a bundle the command still runs, with its exit status', () => {
    expect(runEntrypoint('ros2', join(dir, 'missing'), ['echo', 'plain run'])).toBe('plain run\n');
    expect(() => runEntrypoint('ros2', join(dir, 'missing'), ['false'])).toThrow();
  });
});

describe('the container user', () => {
  test('read from the rootfs passwd; missing users fail with one line', async () => {
    const rootfs = mkdtempSync(join(tmpdir(), 'tailor-rootfs-'));
    try {
      mkdirSync(join(rootfs, 'etc'));
      writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/bash\ndev:x:1000:1000::/srv/dev:/bin/bash\n');
      await expect(containerUser(rootfs, recipe())).resolves.toEqual({ user: 'dev', home: '/srv/dev' });
      await expect(containerUser(rootfs, recipe({ user: undefined }))).resolves.toEqual({ user: 'root', home: '/root' });
      await expect(containerUser(rootfs, recipe({ user: { name: 'ghost' } }))).rejects.toThrow(/user ghost .* is not in the image's \/etc\/passwd/);
    } finally {
      rmSync(rootfs, { recursive: true, force: true });
    }
  });
});

describe('the reproducible tar', () => {
  test('same tree, different host times and owners names: same bytes', () => {
    const root = mkdtempSync(join(tmpdir(), 'tailor-tar-'));
    try {
      for (const name of ['b', 'a', 'c']) writeFileSync(join(root, name), `file ${name}\n`);
      mkdirSync(join(root, 'proc', 'self'), { recursive: true });
      writeFileSync(join(root, 'proc', 'self', 'status'), 'host data\n');
      const archive = () => execFileSync('tar', reproducibleTarArgs(root, 1767268800, { exclude: ['./proc/*'] }));
      const first = archive();
      execFileSync('touch', [join(root, 'a'), join(root, 'c')]);
      const second = archive();
      expect(second.equals(first)).toBe(true);
      const names = execFileSync('tar', ['-t'], { input: first }).toString().split('\n').filter(Boolean);
      expect(names).toEqual(['./', './a', './b', './c', './proc/']);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
