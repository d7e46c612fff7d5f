import { join } from 'node:path';
import { baseGroupKey, commonPackages } from '../../lib/builder/base-rootfs';
import { bootstrapKey, BootstrapKeyInput } from '../../lib/builder/bootstrap-cache';
import { createImageCommand, CreateImageOptions } from '../../lib/cli/create-image-options';
import { resolveRequests } from '../../lib/cli/resolve-request';
import { bootstrapSpecOf } from '../../lib/builder/bootstrap-spec';
import { mmdebstrapArguments } from '../../lib/builder/mmdebstrap';

const base: BootstrapKeyInput = {
  toolVersion: '0.1.0',
  mmdebstrapVersion: 'mmdebstrap 1.3.5',
  codename: 'bookworm',
  variant: 'apt',
  architecture: 'amd64',
  components: ['main'],
  sources: ['deb http://deb.debian.org/debian bookworm main'],
  packages: ['sudo', 'openssh-server'],
  keyringSha256: 'a'.repeat(64),
};

describe('bootstrap cache key', () => {
  test('is a sha256 and ignores package order and duplicates', () => {
    const key = bootstrapKey(base);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(bootstrapKey({ ...base, packages: ['openssh-server', 'sudo', 'sudo'] })).toBe(key);
  });

  test.each([
    ['the package list', { packages: ['sudo', 'openssh-server', 'less'] }],
    ['the mirror', { sources: ['deb http://mirror.example.com/debian bookworm main'] }],
    ['the keyring', { keyringSha256: 'b'.repeat(64) }],
    ['the builder version', { toolVersion: '0.2.0' }],
    ['the mmdebstrap version', { mmdebstrapVersion: 'mmdebstrap 1.5.0' }],
    ['the distribution', { codename: 'trixie' }],
    ['the variant', { variant: 'minbase' }],
    ['the dpkg path-excludes of a minimised recipe', { dpkgOptions: ['path-exclude=/usr/share/man/*'] }],
  ])('changes with %s', (_, change) => {
    expect(bootstrapKey({ ...base, ...change })).not.toBe(bootstrapKey(base));
  });
});

describe('a minimised recipe', () => {
  test('bootstraps with dpkg path-excludes that keep copyright files; others with none', () => {
    const [wrangler, webapp] = resolveRequests(flags(['--name', 'wrangler', '--name', 'webapp', '--distribution', 'bookworm']));
    const args = mmdebstrapArguments(bootstrapSpecOf(wrangler, ['sudo']), '/tmp/x');
    expect(args).toEqual(expect.arrayContaining([
      '--dpkgopt=path-exclude=/usr/share/doc/*', '--dpkgopt=path-include=/usr/share/doc/*/copyright', '--dpkgopt=path-exclude=/usr/share/man/*',
    ]));
    // Options go before the positionals (suite, target, sources).
    expect(args.findIndex((arg) => arg.startsWith('--dpkgopt'))).toBeLessThan(args.indexOf('bookworm'));
    expect(mmdebstrapArguments(bootstrapSpecOf(webapp, ['sudo']), '/tmp/x').some((arg) => arg.startsWith('--dpkgopt'))).toBe(false);
  });
});

describe('the base several builds share', () => {
  test('holds the packages every build has, and only those', () => {
    expect(commonPackages([['a', 'b', 'c'], ['b', 'c', 'd'], ['c', 'b']])).toEqual(['b', 'c']);
    expect(commonPackages([['sudo', 'nginx']])).toEqual(['nginx', 'sudo']);
    expect(commonPackages([['a'], ['b']])).toEqual([]);
  });

  test('is shared only by builds that bootstrap alike', () => {
    const [webapp, devEnv] = resolveRequests(flags(['--name', 'webapp', '--name', 'dev-env', '--distribution', 'bookworm']));
    expect(baseGroupKey(webapp)).toBe(baseGroupKey(devEnv));
    const [minbase] = resolveRequests(flags(['--name', 'tiny-a', '--distribution', 'bookworm', '--recipes-path', SMALL]));
    expect(baseGroupKey(minbase)).not.toBe(baseGroupKey(webapp)); // another variant
    const [otherMirror] = resolveRequests(flags(['--name', 'webapp', '--distribution', 'bookworm', '--mirror', 'http://127.0.0.1:1/debian']));
    expect(baseGroupKey(otherMirror)).not.toBe(baseGroupKey(webapp));
    const [wrangler] = resolveRequests(flags(['--name', 'wrangler', '--distribution', 'bookworm']));
    expect(wrangler.recipe.minimise).toBe(true);
    expect(baseGroupKey({ ...wrangler, recipe: { ...wrangler.recipe, minimise: false } })).not.toBe(baseGroupKey(wrangler));
    const [cold] = resolveRequests(flags(['--name', 'webapp', '--distribution', 'bookworm', '--no-cache']));
    expect(baseGroupKey(cold)).not.toBe(baseGroupKey(webapp));
  });
});

const SMALL = join(__dirname, '..', 'fixtures', 'catalog-small');

function flags(args: string[]): CreateImageOptions {
  const command = createImageCommand('0.0.0-test');
  command.parse(args, { from: 'user' });
  return command.opts<CreateImageOptions>();
}
