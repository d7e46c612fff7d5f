import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../lib/core/errors';
import { BuildLog, silentLog } from '../../lib/core/log';
import { localImagesDir } from '../../lib/storage/local/layout';
import { cleanupLocal } from '../../lib/storage/local/local-cleanup';
import { LocalStore } from '../../lib/storage/local/local-store';
import { OpenPgpSigner, secretKeyFingerprints } from '../../lib/storage/signing/openpgp-signer';
import { parseSha256sums, sha256sumsText } from '../../lib/storage/signing/release-sums';
import { daysAgo, failure } from '../support/outcomes';
import { describeWith, tool } from '../support/prereq';
import { filesHolding, gpgvVerifies, makeSigningKey, TestSigningKey } from '../support/signing-key';
import { plannedOf, syntheticImage } from '../support/synthetic-image';

describe('SHA256SUMS text', () => {
  it('is sha256sum format, sorted by name, and reads back', () => {
    const digests = new Map([
      ['b.tar.gz', 'b'.repeat(64)],
      ['a.manifest', 'a'.repeat(64)],
    ]);
    const text = sha256sumsText(digests);
    expect(text).toBe(`${'a'.repeat(64)}  a.manifest\n${'b'.repeat(64)}  b.tar.gz\n`);
    expect(parseSha256sums(text)).toEqual(digests);
  });

  it('finds the primary secret keys in gpg --with-colons output', () => {
    const colons = 'sec:u:255:22:AAAA:1:::u:::scESC:::+:::ed25519:::0:\nfpr:::::::::0123456789ABCDEF0123456789ABCDEF01234567:\nssb:u:255:18:BBBB:1::::::e:::+:::cv25519::\nfpr:::::::::FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF:\n';
    expect(secretKeyFingerprints(colons)).toEqual(['0123456789ABCDEF0123456789ABCDEF01234567']);
  });
});

describeWith('signed local releases', [tool('gpg'), tool('gpgv'), tool('sha256sum', 'coreutils')], () => {
  let work: string;
  let key: TestSigningKey;
  const lines: string[] = [];
  const log: BuildLog = { ...silentLog, info: (m) => lines.push(m), warn: (m) => lines.push(m), debug: (m) => lines.push(m) };

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'release-signing-'));
    key = makeSigningKey(work);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('SHA256SUMS lists every file of the release, gpgv verifies it and the index, and a changed byte fails', async () => {
    const root = join(work, 'store');
    const images = await Promise.all(
      [daysAgo(5), daysAgo(1)].map((timestamp) => syntheticImage({ dir: join(work, 'built'), name: 'webapp', distribution: 'bookworm', releaseLabel: 'hotdog', timestamp, size: 5000 })),
    );
    const store = new LocalStore(root, images.map(plannedOf), key.secretKeyFile);
    await store.verify();
    for (const image of images) await store.put(image, log);
    const dir = localImagesDir(root, 'hotdog');
    const names = readdirSync(dir).filter((n) => !n.startsWith('.') && !n.endsWith('.gpg') && n !== 'SHA256SUMS' && n !== 'index.json' && !n.endsWith('.lock'));
    const sums = readFileSync(join(dir, 'SHA256SUMS'), 'utf8');
    expect([...parseSha256sums(sums).keys()].sort()).toEqual(names.sort());
    // The two operator commands (docs/SIGNING.md).
    expect(gpgvVerifies(key.publicKeyFile, join(dir, 'SHA256SUMS.gpg'), join(dir, 'SHA256SUMS'))).toBe(true);
    expect(() => execFileSync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: dir })).not.toThrow();
    expect(gpgvVerifies(key.publicKeyFile, join(dir, 'index.json.gpg'), join(dir, 'index.json'))).toBe(true);

    const copy = join(work, 'SHA256SUMS.changed');
    writeFileSync(copy, sums.replace(/^./, (c) => (c === '0' ? '1' : '0')));
    expect(gpgvVerifies(key.publicKeyFile, join(dir, 'SHA256SUMS.gpg'), copy)).toBe(false);
    const index = join(work, 'index.changed');
    writeFileSync(index, readFileSync(join(dir, 'index.json')));
    appendFileSync(index, ' ');
    expect(gpgvVerifies(key.publicKeyFile, join(dir, 'index.json.gpg'), index)).toBe(false);

    // A cleanup removes the old image and re-signs: the list no longer names its files.
    const report = await cleanupLocal({ root, releaseLabel: 'hotdog', organization: 'acme', policy: { daysToKeep: 3, now: new Date() }, dryRun: false, log, signer: await OpenPgpSigner.fromFile(key.secretKeyFile, log) });
    expect(report.removed.map((r) => r.imageName)).toEqual([images[0].imageName]);
    const after = readFileSync(join(dir, 'SHA256SUMS'), 'utf8');
    expect(after).not.toContain(images[0].imageName);
    expect(after).toContain(images[1].imageName);
    expect(gpgvVerifies(key.publicKeyFile, join(dir, 'SHA256SUMS.gpg'), join(dir, 'SHA256SUMS'))).toBe(true);
    expect(gpgvVerifies(key.publicKeyFile, join(dir, 'index.json.gpg'), join(dir, 'index.json'))).toBe(true);
    expect(() => execFileSync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: dir })).not.toThrow();

    // No secret key material in the store or in anything logged; no gpg home left behind.
    expect(filesHolding(key.secretMarkers, [root])).toEqual([]);
    const logged = Buffer.from(lines.join('\n'));
    expect(key.secretMarkers.filter((marker) => logged.includes(marker))).toEqual([]);
    expect(readdirSync(tmpdir()).filter((n) => n.startsWith('tailor-gpg-'))).toEqual([]);
  });

  it('refuses a key that is no key, a protected key, and a missing file, before any work (UsageError)', async () => {
    const junk = join(work, 'junk.key');
    writeFileSync(junk, 'not a key\n');
    const protectedKey = makeSigningKey(join(work), { passphrase: 'secret words' });
    for (const [file, message] of [
      [junk, /cannot import/],
      [protectedKey.secretKeyFile, /cannot sign/],
      [join(work, 'absent.key'), /does not exist/],
    ] as const) {
      const error = await failure(new LocalStore(join(work, 'refused'), [], file).verify());
      expect(error).toBeInstanceOf(UsageError);
      expect(error.message).toMatch(message);
    }
  });
});
