import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { updateLocalIndex, readLocalIndex } from '../../lib/storage/local/local-index';
import {
  IndexEntry, listEntries, parseIndex, serializeIndex, SlotTakenError, TailorIndex, withEntry, withEntryInFreeSlot, withoutEntry, withoutImages,
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

  test('rejects text that is not an index, naming the first part that is not the shape consumers walk', () => {
    expect(() => parseIndex('[1,2]', 'index.json')).toThrow('index.json is not a tailor image index');
    expect(() => parseIndex('null', 'index.json')).toThrow('index.json is not a tailor image index');
    expect(() => parseIndex('{', 'index.json')).toThrow('index.json is not valid JSON');
    expect(() => parseIndex('{"20260101.000000": []}', 'index.json')).toThrow('index.json is not a tailor image index (20260101.000000 is not an object)');
    expect(() => parseIndex('{"t": {"raw": {"bot": null}}}', 'index.json')).toThrow('(t / raw / bot is not an object)');
    expect(() => parseIndex('{"t": {"raw": {"bot": {"jammy": {"checksum": "x"}}}}}', 'index.json')).toThrow('(t / raw / bot / jammy has no "file")');
    expect(parseIndex('{"t": {"raw": {}}, "u": {}}', 'index.json')).toEqual({ t: { raw: {} }, u: {} });
  });

  test('an occupied slot is never taken over by another image; the same image again is fine', () => {
    const slot = { timestamp: '20261126.010000', key: 'raw', name: 'bot', distribution: 'jammy' };
    const index = withEntryInFreeSlot({}, slot, entry('acme_bot_jammy_hotdog_20261126.010000'), 'index.json');
    expect(withEntryInFreeSlot(index, slot, entry('acme_bot_jammy_hotdog_20261126.010000'), 'index.json')).toEqual(index);
    let error: unknown;
    try {
      withEntryInFreeSlot(index, slot, entry('other_bot_jammy_hotdog_20261126.010000'), 'index.json');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SlotTakenError);
    expect((error as Error).message).toBe(
      'index.json already holds acme_bot_jammy_hotdog_20261126.010000 where other_bot_jammy_hotdog_20261126.010000 goes (20261126.010000 raw/bot/jammy); pick another --timestamp',
    );
  });

  test('withoutImages drops the named images wherever they are', () => {
    let index: TailorIndex = {};
    index = withEntry(index, { timestamp: 't1', key: 'raw', name: 'bot', distribution: 'jammy' }, entry('a'));
    index = withEntry(index, { timestamp: 't2', key: 'docker', name: 'dev', distribution: 'noble' }, entry('b'));
    expect(listEntries(withoutImages(index, new Set(['b', 'zzz']))).map((e) => e.entry.file)).toEqual(['a']);
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
