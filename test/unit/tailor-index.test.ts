import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { updateLocalIndex, readLocalIndex } from '../../lib/storage/local/local-index';
import {
  IndexEntry, listEntries, parseIndex, serializeIndex, TailorIndex, withEntry, withoutEntry,
} from '../../lib/storage/indexes/tailor-index';

const entry = (file: string): IndexEntry => ({ file, checksum: 'd41d8cd98f00b204e9800998ecf8427e' });

describe('tailor index', () => {
  test('adds entries in the shape tailor consumers read', () => {
    let index: TailorIndex = {};
    index = withEntry(index, { timestamp: '20261126.010000', key: 'raw', name: 'bot', distribution: 'jammy' }, entry('a'));
    index = withEntry(index, { timestamp: '20261126.010000', key: 'raw', name: 'bot', distribution: 'noble' }, entry('b'));
    index = withEntry(index, { timestamp: '20261126.010000', key: 'docker', name: 'dev', distribution: 'noble' }, entry('c'));
    expect(index).toEqual({
      '20261126.010000': {
        raw: { bot: { jammy: entry('a'), noble: entry('b') } },
        docker: { dev: { noble: entry('c') } },
      },
    });
  });

  test('merging never touches other entries and keeps unknown fields', () => {
    const existing = parseIndex(
      JSON.stringify({ '20250101.000000': { raw: { bot: { focal: { file: 'old', checksum: 'x', extra: 1 } } } } }),
      'test',
    );
    const next = withEntry(existing, { timestamp: '20261126.010000', key: 'raw', name: 'bot', distribution: 'jammy' }, entry('n'));
    expect(next['20250101.000000']).toEqual(existing['20250101.000000']);
    expect(existing['20261126.010000']).toBeUndefined();
    expect(listEntries(next).map((e) => e.entry.file)).toEqual(['old', 'n']);
  });

  test('removing the last entry of a timestamp prunes the empty branches', () => {
    const slot = { timestamp: '20261126.010000', key: 'raw', name: 'bot', distribution: 'jammy' };
    expect(withoutEntry(withEntry({}, slot, entry('a')), slot)).toEqual({});
  });

  test('rejects text that is not an index', () => {
    expect(() => parseIndex('[1,2]', 'index.json')).toThrow('index.json is not a tailor image index');
    expect(() => parseIndex('{', 'index.json')).toThrow('index.json is not valid JSON');
  });

  test('serializes with timestamps in order', () => {
    const text = serializeIndex({ b: {}, a: {} } as TailorIndex);
    expect(text.indexOf('"a"')).toBeLessThan(text.indexOf('"b"'));
  });
});

describe('local index updates', () => {
  test('40 concurrent updates all land, and no temp or lock file is left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'index-'));
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        updateLocalIndex(dir, (index) =>
          withEntry(index, { timestamp: '20261126.010000', key: 'raw', name: `img${i}`, distribution: 'jammy' }, entry(`f${i}`)),
        ),
      ),
    );
    const index = readLocalIndex(dir);
    expect(Object.keys(index['20261126.010000'].raw)).toHaveLength(40);
    expect(readdirSync(dir)).toEqual(['index.json']);
    expect(JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'))).toEqual(index);
  });
});
