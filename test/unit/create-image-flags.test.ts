import { CommanderError } from 'commander';
import { resolve, join } from 'node:path';
import { createImageCommand, CreateImageOptions } from '../../lib/cli/create-image-options';
import { resolveRequest, resolveRequests } from '../../lib/cli/resolve-request';
import { UsageError } from '../../lib/core/errors';

const ROSDISTRO = join(__dirname, '..', 'fixtures', 'rosdistro');
const NOW = new Date(Date.UTC(2026, 10, 26, 12, 30, 45));

function parseFlags(args: string[]): CreateImageOptions {
  const command = createImageCommand('0.0.0-test');
  command.configureOutput({ writeErr: () => undefined, writeOut: () => undefined, outputError: () => undefined });
  command.parse(args, { from: 'user' });
  return command.opts<CreateImageOptions>();
}

const request = (args: string[]) => resolveRequest(parseFlags(args), NOW);

describe('create_image flags', () => {
  test('name and distribution alone work, with defaults from the bundled common configuration', () => {
    const r = request(['--name', 'webapp', '--distribution', 'bookworm']);
    expect(r).toMatchObject({
      name: 'webapp',
      organization: 'acme',
      releaseTrack: 'hotdog',
      releaseLabel: 'hotdog',
      flavour: 'webapp',
      timestamp: '20261126.123045',
      imageName: 'acme_webapp_bookworm_hotdog_20261126.123045',
      storage: { mode: 'build-only', path: resolve('images') },
      keepWorkDir: false,
    });
    expect(r.distribution.os).toBe('debian');
    expect(r.aptRepo).toBeUndefined();
  });

  test('every flag of the tool it replaces keeps its meaning', () => {
    const r = request([
      '--name', 'webapp', '--distribution', 'jammy', '--apt-repo', 'https://apt.example.com',
      '--release-track', 'hotdog', '--release-label', 'hotdog-1.2', '--flavour', 'robot', '--organization', 'locus',
      '--docker-registry', 'registry.example.com/locus', '--timestamp', '20250101.000000',
      '--local-storage', '--local-storage-path', '/srv/images', '--mirror', 'http://mirror.example.com/ubuntu',
    ]);
    expect(r).toMatchObject({
      organization: 'locus', releaseTrack: 'hotdog', releaseLabel: 'hotdog-1.2', flavour: 'robot',
      aptRepo: 'https://apt.example.com', dockerRegistry: 'registry.example.com/locus', timestamp: '20250101.000000',
      imageName: 'locus_webapp_jammy_hotdog-1.2_20250101.000000', mirror: 'http://mirror.example.com/ubuntu',
      storage: { mode: 'local', path: '/srv/images' },
    });
  });

  test('--allow-source-dir is repeatable, made absolute, and must name a folder', () => {
    const base = ['--name', 'webapp', '--distribution', 'bookworm'];
    expect(request(base).allowedSourceDirs).toEqual([]);
    expect(request([...base, '--allow-source-dir', 'test', '--allow-source-dir', '/tmp']).allowedSourceDirs).toEqual([resolve('test'), '/tmp']);
    expect(() => request([...base, '--allow-source-dir', '/nonexistent/dir'])).toThrow(UsageError);
    expect(() => request([...base, '--allow-source-dir', '/nonexistent/dir'])).toThrow('--allow-source-dir /nonexistent/dir is not a folder');
  });

  test('--local-storage alone defaults to ./images', () => {
    expect(request(['--name', 'webapp', '--distribution', 'noble', '--local-storage']).storage).toEqual({
      mode: 'local', path: resolve('images'),
    });
  });

  test('--publish takes the bucket from --apt-repo s3://', () => {
    const r = request(['--name', 'webapp', '--distribution', 'noble', '--publish', '--apt-repo', 's3://acme-images',
      '--cloudfront-distribution-id', 'E1']);
    expect(r.storage).toEqual({ mode: 'publish', bucket: 'acme-images', cloudfrontDistributionId: 'E1' });
  });

  test('--bucket names the publish bucket without an apt repository', () => {
    const r = request(['--name', 'webapp', '--distribution', 'noble', '--publish', '--bucket', 'acme-images']);
    expect(r.storage).toEqual({ mode: 'publish', bucket: 'acme-images' });
    expect(r.installBundle).toBe(false);
  });

  test('a rosdistro supplies the catalog and the common settings', () => {
    const r = request(['--name', 'bot', '--distribution', 'jammy', '--rosdistro-path', ROSDISTRO, '--publish']);
    expect(r).toMatchObject({
      organization: 'locus', releaseLabel: 'hotdog-20.4', flavour: 'bot', aptRepo: 's3://locus-tailor-artifacts',
      storage: { mode: 'publish', bucket: 'locus-tailor-artifacts', cloudfrontDistributionId: 'E2EXAMPLE12345' },
    });
  });

  const usageErrors: [string, string[], string | RegExp][] = [
    ['conflicting modes', ['--build-only', '--local-storage'], '--build-only and --local-storage are exclusive'],
    ['three modes', ['--build-only', '--local-storage', '--publish'], 'are exclusive'],
    ['storage path without mode', ['--local-storage-path', '/tmp/x'], '--local-storage-path needs --local-storage'],
    ['path with build-only', ['--build-only', '--local-storage-path', '/tmp/x'], '--local-storage-path needs --local-storage'],
    ['publish without bucket', ['--publish'], '--publish needs the bucket'],
    ['publish with http repo', ['--publish', '--apt-repo', 'https://apt.example.com'], '--publish needs the bucket'],
    ['bad timestamp', ['--timestamp', '2026-11-26'], 'YYYYMMDD.HHMMSS'],
    ['impossible timestamp', ['--timestamp', '20260231.000000'], 'not a real date'],
    ['underscore in organization', ['--organization', 'acme_corp'], '"_"'],
    ['slash in release label', ['--release-label', 'a/b'], 'path separator'],
    ['dots in flavour', ['--flavour', '..'], '".."'],
    ['space in release track', ['--release-track', 'hot dog'], 'spaces'],
    ['bucket without publish', ['--bucket', 'acme-images'], '--bucket needs --publish'],
    ['bad bucket name', ['--publish', '--bucket', 'Acme_Images'], 'is not an S3 bucket name'],
    ['bad mirror', ['--mirror', 'deb.debian.org'], 'is not an http(s)://'],
    ['rosdistro and recipes path', ['--rosdistro-path', ROSDISTRO, '--recipes-path', '/tmp'], 'exclusive'],
  ];
  test.each(usageErrors)('%s is a usage error', (_, extra, message) => {
    const args = ['--name', 'webapp', '--distribution', 'bookworm', ...extra];
    expect(() => request(args)).toThrow(UsageError);
    expect(() => request(args)).toThrow(message);
  });

  test('several --name build several images in one run, with one timestamp and one store', () => {
    const requests = resolveRequests(parseFlags(['--name', 'webapp', '--name', 'dev-env', '--distribution', 'bookworm', '--local-storage']), NOW);
    expect(requests.map((r) => [r.imageName, r.recipe.build_type])).toEqual([
      ['acme_webapp_bookworm_hotdog_20261126.123045', 'lxd'],
      ['acme_dev-env_bookworm_hotdog_20261126.123045', 'docker'],
    ]);
    expect(requests[1].storage).toEqual(requests[0].storage);
    expect(() => request(['--name', 'webapp', '--name', 'dev-env', '--distribution', 'bookworm'])).toThrow('give exactly one --name here');
  });

  test.each([
    ['the same --name twice', ['--name', 'webapp', '--name', 'webapp', '--distribution', 'bookworm'], '--name webapp is given twice'],
    ['one unknown image among several', ['--name', 'webapp', '--name', 'nope', '--distribution', 'bookworm'], 'unknown image "nope"'],
  ])('%s is a usage error', (_, args, message) => {
    expect(() => resolveRequests(parseFlags(args), NOW)).toThrow(UsageError);
    expect(() => resolveRequests(parseFlags(args), NOW)).toThrow(message);
  });

  test.each([
    ['unknown image', ['--name', 'nope', '--distribution', 'bookworm'], 'unknown image "nope"'],
    ['underscore in name', ['--name', 'web_app', '--distribution', 'bookworm'], '"_"'],
    ['unknown distribution', ['--name', 'webapp', '--distribution', 'buster'], 'unknown distribution "buster"'],
    ['distribution outside os_versions', ['--name', 'sim', '--distribution', 'noble', '--rosdistro-path', ROSDISTRO], 'not built for noble'],
  ])('%s is a usage error', (_, args, message) => {
    expect(() => request(args)).toThrow(UsageError);
    expect(() => request(args)).toThrow(message);
  });

  test.each([
    ['missing --name', ['--distribution', 'bookworm']],
    ['missing --distribution', ['--name', 'webapp']],
    ['unknown flag', ['--name', 'webapp', '--distribution', 'bookworm', '--frobnicate']],
    ['stray argument', ['--name', 'webapp', '--distribution', 'bookworm', 'extra']],
    ['verbose and quiet', ['--name', 'webapp', '--distribution', 'bookworm', '-v', '-q']],
  ])('%s is rejected by the parser', (_, args) => {
    expect(() => parseFlags(args)).toThrow(CommanderError);
  });
});
