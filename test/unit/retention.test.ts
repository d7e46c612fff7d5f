import { expiredEntries, extensionOf, ofOrganization, RetentionEntry } from '../../lib/storage/retention/retention';

function entry(name: string, distribution: string, timestamp: string, extension = 'tar.gz', organization = 'acme'): RetentionEntry {
  const file = `${organization}_${name}_${distribution}_hotdog_${timestamp}`;
  return { slot: { timestamp, key: 'raw', name, distribution }, entry: { file, checksum: '0'.repeat(32), artifact: `${file}.${extension}` } };
}

const now = new Date(Date.UTC(2026, 0, 31, 12, 0, 0));
const files = (items: RetentionEntry[]) => items.map((i) => i.entry.file);

describe('retention', () => {
  const web = [1, 5, 10, 20, 30].map((day) => entry('webapp', 'bookworm', `202601${String(day).padStart(2, '0')}.120000`));
  const other = [entry('webapp', 'jammy', '20260101.120000'), entry('webapp', 'bookworm', '20260101.120000', 'raw.xz')];

  test('numToKeep keeps the newest N of each (name, distribution, extension)', () => {
    expect(files(expiredEntries([...web, ...other], { numToKeep: 2, now }))).toEqual(files(web.slice(0, 3)));
  });

  test('each architecture keeps its own newest N (an arm64 build is the name field <recipe>-arm64)', () => {
    const arm = [5, 30].map((day) => entry('webapp-arm64', 'bookworm', `202601${String(day).padStart(2, '0')}.120000`));
    expect(files(expiredEntries([...web, ...arm], { numToKeep: 1, now })).sort()).toEqual([...files(web.slice(0, 4)), ...files(arm.slice(0, 1))].sort());
  });

  test('daysToKeep removes what is older than N days, per group', () => {
    // 2026-01-20 12:00 is exactly 11 days before now: kept with 12, gone with 11.
    expect(files(expiredEntries(web, { daysToKeep: 12, now }))).toEqual(files(web.slice(0, 3)));
    expect(files(expiredEntries(web, { daysToKeep: 11, now }))).toEqual(files(web.slice(0, 4)));
    expect(files(expiredEntries([...web, ...other], { daysToKeep: 25, now })).sort()).toEqual([...files(web.slice(0, 2)), ...files(other)].sort());
  });

  test('with both, an image goes only when neither rule keeps it', () => {
    expect(files(expiredEntries(web, { daysToKeep: 1, numToKeep: 3, now }))).toEqual(files(web.slice(0, 2)));
    expect(files(expiredEntries(web, { daysToKeep: 25, numToKeep: 1, now }))).toEqual(files(web.slice(0, 2)));
  });

  test('no policy, or an unreadable timestamp, removes nothing', () => {
    expect(expiredEntries(web, { now })).toEqual([]);
    const odd = { ...web[0], slot: { ...web[0].slot, timestamp: 'latest' } };
    expect(expiredEntries([odd], { numToKeep: 0, now })).toEqual([]);
  });

  test('extension and organization', () => {
    expect(extensionOf(other[1])).toBe('raw.xz');
    expect(extensionOf({ ...web[0], entry: { file: web[0].entry.file, checksum: 'x' } })).toBe('(raw)');
    const foreign = entry('webapp', 'bookworm', '20260101.000000', 'tar.gz', 'other');
    expect(files(ofOrganization([...web, foreign], 'acme'))).toEqual(files(web));
  });
});
