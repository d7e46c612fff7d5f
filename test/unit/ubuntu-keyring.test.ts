import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkPinnedKeyring, distribution, missingKeyringAdvice, shippedUbuntuKeyring, UBUNTU_ARCHIVE_FINGERPRINTS,
  withUsableKeyring,
} from '../../lib/core/distributions';
import { BuildError } from '../../lib/core/errors';
import { keyringPackets, primaryKeyFingerprints } from '../../lib/core/openpgp';

const REPO_ROOT = join(__dirname, '..', '..');
const SHIPPED = join(REPO_ROOT, 'keyrings', 'ubuntu-archive-keyring.gpg');
const nowhere = () => false;

describe('the shipped Ubuntu archive keyring', () => {
  test('is found beside the builder, from the sources and from the bundles in dist/', () => {
    expect(shippedUbuntuKeyring()).toBe(SHIPPED);
    expect(shippedUbuntuKeyring(join(REPO_ROOT, 'dist'))).toBe(SHIPPED);
  });

  test('holds exactly the two pinned Ubuntu archive keys (2012 and 2018)', () => {
    expect([...UBUNTU_ARCHIVE_FINGERPRINTS].sort()).toEqual([
      '790BC7277767219C42C86F933B4FE6ACC0B21F32',
      'F6ECB3762474EDA9D21B7022871920D1991BC93C',
    ]);
    expect(primaryKeyFingerprints(readFileSync(SHIPPED)).sort()).toEqual([...UBUNTU_ARCHIVE_FINGERPRINTS].sort());
    expect(checkPinnedKeyring(SHIPPED)).toBe(SHIPPED);
  });

  test.each(['focal', 'jammy', 'noble'])('is used for %s when the host has no ubuntu-keyring', (codename) => {
    const chosen = withUsableKeyring(distribution(codename), { exists: nowhere });
    expect(chosen.keyring).toBe(SHIPPED);
    expect(chosen.codename).toBe(codename);
  });

  test("the host's own keyring wins when it has one", () => {
    const jammy = distribution('jammy');
    expect(withUsableKeyring(jammy, { exists: (path) => path === jammy.keyring }).keyring).toBe(jammy.keyring);
  });

  test('is never used for Debian', () => {
    const bookworm = distribution('bookworm');
    expect(withUsableKeyring(bookworm, { exists: nowhere }).keyring).toBe('/usr/share/keyrings/debian-archive-keyring.gpg');
  });

  test('without the shipped file the host path stays, and the advice works on Debian 12 too', () => {
    const jammy = distribution('jammy');
    expect(withUsableKeyring(jammy, { exists: nowhere, shipped: undefined }).keyring).toBe(jammy.keyring);
    expect(missingKeyringAdvice(jammy)).toMatch(/Debian 13 and later.*reinstall tailor-image/);
    expect(missingKeyringAdvice(distribution('bookworm'))).toBe('install with: apt-get install debian-archive-keyring');
  });

  describe('a keyring that is not the pinned one is refused', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'keyring-test-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    test('one key fewer (the 2018 key alone)', () => {
      const keyring = readFileSync(SHIPPED);
      // The first key block ends where the second public-key packet starts.
      const second = keyringPackets(keyring).filter((packet) => packet.tag === 6)[1].start;
      const only2018 = join(dir, 'one.gpg');
      writeFileSync(only2018, keyring.subarray(second));
      expect(primaryKeyFingerprints(readFileSync(only2018))).toEqual(['F6ECB3762474EDA9D21B7022871920D1991BC93C']);
      expect(() => checkPinnedKeyring(only2018)).toThrow(BuildError);
      expect(() => withUsableKeyring(distribution('jammy'), { exists: nowhere, shipped: only2018 })).toThrow(/does not hold exactly the pinned keys/);
    });

    test('a changed key', () => {
      const keyring = Buffer.from(readFileSync(SHIPPED));
      keyring[20] ^= 0xff; // inside the first key's public modulus
      const changed = join(dir, 'changed.gpg');
      writeFileSync(changed, keyring);
      expect(() => checkPinnedKeyring(changed)).toThrow(/does not hold exactly the pinned keys/);
    });

    test('something that is no keyring at all', () => {
      const text = join(dir, 'text.gpg');
      writeFileSync(text, 'not a keyring\n');
      expect(() => checkPinnedKeyring(text)).toThrow(/cannot be read as an OpenPGP keyring/);
    });
  });
});
