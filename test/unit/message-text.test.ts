import { oneLine, UsageError } from '../../lib/core/errors';
import { escapeControls, MAX_LINE_CHARS, quote, safeLine } from '../../lib/core/message-text';

describe('escapeControls: nothing that redraws the terminal or reorders the line', () => {
  test.each([
    ['a\nb', 'a\\nb'],
    ['a\r\tb', 'a\\r\\tb'],
    ['\x1b[31mred\x1b[0m', '\\x1b[31mred\\x1b[0m'],
    ['nul\0', 'nul\\x00'],
    ['del\x7f c1\x9b', 'del\\x7f c1\\x9b'],
    ['abc\u202edef', 'abc\\u{202E}def'], // right-to-left override
    ['\u200fmark\u200e', '\\u{200F}mark\\u{200E}'], // RTL and LTR marks
    ['\u2066iso\u2069', '\\u{2066}iso\\u{2069}'], // isolates
    ['zero\u200bwidth\ufeff', 'zero\\u{200B}width\\u{FEFF}'],
    ['line\u2028sep', 'line\\u{2028}sep'],
    ['lone \ud800 surrogate', 'lone \\u{D800} surrogate'],
  ])('%j', (raw, shown) => {
    expect(escapeControls(raw)).toBe(shown);
  });

  test.each(['plain ascii', 'ünïcödé', '日本語', 'emoji 🚀', 'quotes "and" \'apostrophes\''])('keeps %s', (text) => {
    expect(escapeControls(text)).toBe(text);
  });
});

describe('quote: a value as a message shows it', () => {
  test('short values are quoted whole', () => {
    expect(quote('webapp')).toBe('"webapp"');
  });

  test('long values are cut, their length said', () => {
    const shown = quote('a'.repeat(100000));
    expect(shown).toBe(`"${'a'.repeat(80)}…" (100000 characters)`);
    expect(quote('abcdef', 3)).toBe('"abc…" (6 characters)');
  });

  test('escapes before cutting, and never splits a character', () => {
    expect(quote('\x1b'.repeat(10), 8)).toBe('"\\x1b\\x1b…" (10 characters)');
    expect(quote('🚀🚀🚀', 2)).toBe('"🚀🚀…" (3 characters)');
  });

  test('URLs are shown redacted', () => {
    expect(quote('http://u:secret@h/x')).toBe('"http://***@h/x"');
  });
});

describe('safeLine and oneLine: what runMain prints', () => {
  test('a long line keeps its beginning and its end', () => {
    const line = safeLine(`--organization "${'a'.repeat(100000)}" is longer than 64 characters`);
    expect(Array.from(line).length).toBeLessThanOrEqual(MAX_LINE_CHARS);
    expect(line.startsWith('--organization "aaa')).toBe(true);
    expect(line.endsWith('" is longer than 64 characters')).toBe(true);
    expect(line).toContain(' … ');
  });

  test('short lines are left whole', () => {
    expect(safeLine('unknown image "nope"')).toBe('unknown image "nope"');
  });

  test('oneLine takes the first line, escaped, redacted and cut', () => {
    expect(oneLine(new UsageError('\n  first http://u:pw@h/ \x1b[2J\nsecond'))).toBe('first http://***@h/ \\x1b[2J');
    expect(Array.from(oneLine(new Error('x'.repeat(5000)))).length).toBeLessThanOrEqual(MAX_LINE_CHARS);
    expect(oneLine('plain string')).toBe('plain string');
  });
});
