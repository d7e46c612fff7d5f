import { bootstrapKey, BootstrapKeyInput } from '../../lib/builder/bootstrap-cache';

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
  ])('changes with %s', (_, change) => {
    expect(bootstrapKey({ ...base, ...change })).not.toBe(bootstrapKey(base));
  });
});
