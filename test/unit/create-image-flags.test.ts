import { CommanderError } from 'commander';
import { existsSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { createImageCommand, CreateImageOptions } from '../../lib/cli/create-image-options';
import { resolveRequest, resolveRequests, resolveRun } from '../../lib/cli/resolve-request';
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
const storage = (args: string[]) => resolveRun(parseFlags(args), NOW).storage;

describe('create_image flags', () => {
  test('name and distribution alone work, with defaults from the bundled common configuration', () => {
    const args = ['--name', 'webapp', '--distribution', 'bookworm'];
    const r = request(args);
    expect(storage(args)).toEqual({ mode: 'build-only', path: resolve('images') });
    expect(r).toMatchObject({
      name: 'webapp',
      organization: 'acme',
      releaseTrack: 'hotdog',
      releaseLabel: 'hotdog',
      flavour: 'webapp',
      timestamp: '20261126.123045',
      imageName: 'acme_webapp_bookworm_hotdog_20261126.123045',
      keepWorkDir: false,
    });
    expect(r.distribution.os).toBe('debian');
    expect(r.aptRepo).toBeUndefined();
  });

  test('every flag of the tool it replaces keeps its meaning', () => {
    const args = [
      '--name', 'webapp', '--distribution', 'jammy', '--apt-repo', 'https://apt.example.com',
      '--release-track', 'hotdog', '--release-label', 'hotdog-1.2', '--flavour', 'robot', '--organization', 'locus',
      '--docker-registry', 'registry.example.com/locus', '--timestamp', '20250101.000000',
      '--local-storage', '--local-storage-path', '/srv/images', '--mirror', 'http://mirror.example.com/ubuntu',
    ];
    const r = request(args);
    expect(storage(args)).toEqual({ mode: 'local', path: '/srv/images' });
    expect(r).toMatchObject({
      organization: 'locus', releaseTrack: 'hotdog', releaseLabel: 'hotdog-1.2', flavour: 'robot',
      aptRepo: 'https://apt.example.com', dockerRegistry: 'registry.example.com/locus', timestamp: '20250101.000000',
      imageName: 'locus_webapp_jammy_hotdog-1.2_20250101.000000', mirror: 'http://mirror.example.com/ubuntu',
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
    expect(storage(['--name', 'webapp', '--distribution', 'noble', '--local-storage'])).toEqual({
      mode: 'local', path: resolve('images'),
    });
  });

  test('--publish takes the bucket from --apt-repo s3://', () => {
    expect(storage(['--name', 'webapp', '--distribution', 'noble', '--publish', '--apt-repo', 's3://acme-images',
      '--cloudfront-distribution-id', 'E1'])).toEqual({ mode: 'publish', bucket: 'acme-images', cloudfrontDistributionId: 'E1' });
  });

  test('--bucket names the publish bucket without an apt repository', () => {
    const args = ['--name', 'webapp', '--distribution', 'noble', '--publish', '--bucket', 'acme-images'];
    expect(storage(args)).toEqual({ mode: 'publish', bucket: 'acme-images' });
    expect(request(args).installBundle).toBe(false);
  });

  test('--ami-copy-to and --ami-share-with go to the publish store as lists', () => {
    const args = ['--name', 'webapp', '--distribution', 'noble', '--publish', '--bucket', 'acme-images',
      '--ami-copy-to', 'us-west-2, eu-central-1,us-west-2', '--ami-share-with', '444455556666'];
    expect(storage(args)).toEqual({
      mode: 'publish', bucket: 'acme-images', ami: { copyToRegions: ['us-west-2', 'eu-central-1'], shareWithAccounts: ['444455556666'] },
    });
  });

  test('a rosdistro supplies the catalog and the common settings', () => {
    const args = ['--name', 'bot', '--distribution', 'jammy', '--rosdistro-path', ROSDISTRO, '--publish'];
    expect(request(args)).toMatchObject({
      organization: 'locus', releaseLabel: 'hotdog-20.4', flavour: 'bot', aptRepo: 's3://locus-tailor-artifacts',
    });
    expect(storage(args)).toEqual({ mode: 'publish', bucket: 'locus-tailor-artifacts', cloudfrontDistributionId: 'E2EXAMPLE12345' });
  });

  test('--signing-key goes with a local or published store, as an absolute path; build-only has no release to sign', () => {
    const base = ['--name', 'webapp', '--distribution', 'bookworm', '--signing-key', 'keys/release.key'];
    expect(storage([...base, '--local-storage', '--local-storage-path', '/srv/images'])).toEqual({ mode: 'local', path: '/srv/images', signingKey: resolve('keys/release.key') });
    expect(storage([...base, '--publish', '--bucket', 'acme-images'])).toMatchObject({ mode: 'publish', bucket: 'acme-images', signingKey: resolve('keys/release.key') });
    expect(() => storage(base)).toThrow('--signing-key needs --local-storage or --publish');
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
    ['cloudfront without publish', ['--cloudfront-distribution-id', 'E1'], '--cloudfront-distribution-id needs --publish'],
    ['ami copies without publish', ['--ami-copy-to', 'us-west-2'], '--ami-copy-to needs --publish'],
    ['not a region', ['--publish', '--bucket', 'acme-images', '--ami-copy-to', 'us-west-2,Mars'], '--ami-copy-to "Mars" is not a comma-separated list of AWS regions'],
    ['not an account', ['--publish', '--bucket', 'acme-images', '--ami-share-with', '1234'], 'is not a comma-separated list of 12-digit AWS account ids'],
    ['file:// mirror', ['--mirror', 'file:///srv/debian'], 'file:// mirrors are not supported'],
    ['file:// security mirror', ['--security-mirror', 'file:///srv/debian-security'], 'file:// mirrors are not supported'],
    ['"none" as the main mirror', ['--mirror', 'none'], 'is not an http(s)://'],
    ['mirror with credentials', ['--mirror', 'http://u:pw@m.example/debian'], 'must not hold credentials'],
    ['apt repo of another scheme', ['--apt-repo', 'ftp://u:pw@h.example/'], 'must be http://, https:// or s3://'],
    ['apt repo with a port out of range', ['--apt-repo', 'http://h.example:99999/'], 'is not a URL'],
    ['malformed escape in apt repo credentials', ['--apt-repo', 'http://u:p%ZZ@h.example/'], 'malformed %-escape'],
    ['s3 apt repo with credentials', ['--apt-repo', 's3://key:secret@acme-images'], 'holds credentials'],
    ['s3 apt repo with a bad bucket', ['--apt-repo', 's3://Acme_Images'], 'is not a valid S3 bucket name'],
    ['timestamp far in the future', ['--timestamp', '29991231.000000'], 'days in the future'],
    ['timestamp 15 minutes ahead', ['--timestamp', '20261126.124545'], '15 minutes in the future'],
  ];
  test.each(usageErrors)('%s is a usage error', (_, extra, message) => {
    const args = ['--name', 'webapp', '--distribution', 'bookworm', ...extra];
    expect(() => request(args)).toThrow(UsageError);
    expect(() => request(args)).toThrow(message);
  });

  test('a timestamp a little ahead (clocks disagree) is accepted', () => {
    expect(request(['--name', 'webapp', '--distribution', 'bookworm', '--timestamp', '20261126.124000']).timestamp).toBe('20261126.124000');
  });

  test('URL errors show no credentials', () => {
    for (const extra of [
      ['--apt-repo', 'ftp://PLANTED-USER:PLANTED-PW@h.example/'],
      ['--apt-repo', 'http://PLANTED-USER:PLANTED-PW@h.example:99999/'],
      ['--apt-repo', 'http://PLANTED-USER:PLANTED-PW%ZZ@h.example/'],
      ['--apt-repo', 's3://PLANTED-USER:PLANTED-PW@acme-images'],
      ['--mirror', 'http://PLANTED-USER:PLANTED-PW@m.example/debian'],
      ['--mirror', 'ftp://PLANTED-USER:PLANTED-PW@m.example/debian'],
    ]) {
      let message = '';
      try {
        request(['--name', 'webapp', '--distribution', 'bookworm', ...extra]);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/\*\*\*@/);
      expect(message).not.toMatch(/PLANTED/);
    }
  });

  test.each([
    ['--distribution', ['--distribution', 'jammy']],
    ['--timestamp', ['--timestamp', '20250101.000000', '--timestamp', '20250102.000000']],
    ['--local-storage-path', ['--local-storage', '--local-storage-path', '/a', '--local-storage-path', '/b']],
    ['--apt-repo', ['--apt-repo', 'https://a.example', '--apt-repo', 'https://b.example']],
  ])('%s given twice is a usage error naming the flag', (flag, extra) => {
    const args = ['--name', 'webapp', '--distribution', 'bookworm', ...extra];
    expect(() => parseFlags(args)).toThrow(UsageError);
    expect(() => parseFlags(args)).toThrow(`${flag} is given twice`);
  });

  test('an Ubuntu image gets a keyring this host has: its own, else the shipped one', () => {
    const host = '/usr/share/keyrings/ubuntu-archive-keyring.gpg';
    const shipped = join(__dirname, '..', '..', 'keyrings', 'ubuntu-archive-keyring.gpg');
    expect(request(['--name', 'webapp', '--distribution', 'jammy']).distribution.keyring).toBe(existsSync(host) ? host : shipped);
    expect(request(['--name', 'webapp', '--distribution', 'bookworm']).distribution.keyring).toBe('/usr/share/keyrings/debian-archive-keyring.gpg');
  });

  test('several --name build several images in one run, with one timestamp and one store', () => {
    const args = ['--name', 'webapp', '--name', 'dev-env', '--distribution', 'bookworm', '--local-storage'];
    const requests = resolveRequests(parseFlags(args), NOW);
    expect(requests.map((r) => [r.imageName, r.recipe.build_type])).toEqual([
      ['acme_webapp_bookworm_hotdog_20261126.123045', 'lxd'],
      ['acme_dev-env_bookworm_hotdog_20261126.123045', 'docker'],
    ]);
    expect(storage(args)).toEqual({ mode: 'local', path: resolve('images') });
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
