import {
  bundlePackageName, checkNameField, checkTimestamp, formatTimestamp, imageName, parseImageName, timestampToEpoch,
} from '../../lib/core/naming';
import { UsageError } from '../../lib/core/errors';

describe('image naming', () => {
  test('follows {organization}_{name}_{distribution}_{release_label}_{timestamp}', () => {
    const name = imageName({
      organization: 'acme', name: 'webapp', distribution: 'jammy', releaseLabel: 'hotdog', timestamp: '20261126.031500',
    });
    expect(name).toBe('acme_webapp_jammy_hotdog_20261126.031500');
    expect(parseImageName(name)).toEqual({
      organization: 'acme', name: 'webapp', distribution: 'jammy', releaseLabel: 'hotdog', timestamp: '20261126.031500',
    });
  });

  test.each([
    ['has_underscore', '"_"'],
    ['a/b', 'path separator'],
    ['a\\b', 'path separator'],
    ['..', '".."'],
    ['a..b', '".."'],
    ['with space', 'spaces'],
    ['-leading', 'starting with a letter or digit'],
    ['ünïcode', 'may only hold'],
    ['', 'must not be empty'],
    ['x'.repeat(65), 'longer than 64'],
  ])('rejects %j', (value, problem) => {
    expect(() => checkNameField('name', value)).toThrow(UsageError);
    expect(() => checkNameField('name', value)).toThrow(problem);
  });

  test.each(['webapp', 'dev-env', 'hotdog-20.4', 'v1.2+3', 'A1'])('accepts %j', (value) => {
    expect(checkNameField('release-label', value)).toBe(value);
  });

  test('timestamps are YYYYMMDD.HHMMSS and real', () => {
    expect(checkTimestamp('20261126.235959')).toBe('20261126.235959');
    for (const bad of ['2026-11-26', '20261126', '20261126.2359', '20261301.000000', '20260230.120000', '20261126.246000', 'now']) {
      expect(() => checkTimestamp(bad)).toThrow(UsageError);
    }
  });

  test('timestamps are formatted in UTC and read back to the same instant', () => {
    const date = new Date(Date.UTC(2026, 10, 26, 3, 4, 5));
    expect(formatTimestamp(date)).toBe('20261126.030405');
    expect(timestampToEpoch('20261126.030405')).toBe(date.getTime() / 1000);
  });

  test('the bundle package is {organization}-{flavour}-{release_label}', () => {
    expect(bundlePackageName('acme', 'webapp', 'hotdog')).toBe('acme-webapp-hotdog');
  });

  test('parseImageName refuses names with the wrong number of fields', () => {
    expect(() => parseImageName('acme_webapp_jammy_20261126.031500')).toThrow(UsageError);
  });
});
