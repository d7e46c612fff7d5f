import { redactUrls } from './redact';

/**
 * What a message may show of text it did not write (flags, file names, keys, another
 * program's output): printable, on one line, short, and without credentials.
 *
 * - Control characters (C0, DEL, C1), bidirectional controls (RTL/LTR marks, embeddings,
 *   overrides, isolates), zero-width and line-separator characters, and lone surrogates
 *   are shown as escapes (`\n`, `\x1b`, `\u{202E}`), so a value can neither redraw the
 *   terminal nor reorder the line it is shown in.
 * - Values are cut to a few dozen characters, lines to a few hundred.
 * - URLs are shown redacted (lib/core/redact.ts).
 */

/** How much of a value a message shows. */
export const MAX_VALUE_CHARS = 80;
/** How long a whole message line may be. */
export const MAX_LINE_CHARS = 500;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function needsEscape(code: number): boolean {
  return (
    code < 0x20 || (code >= 0x7f && code <= 0x9f) ||
    code === 0x061c || (code >= 0x200b && code <= 0x200f) || (code >= 0x2028 && code <= 0x202e) ||
    (code >= 0x2060 && code <= 0x2069) || code === 0xfeff ||
    (code >= 0xd800 && code <= 0xdfff) // a lone surrogate (pairs are iterated as one code point)
  );
}

function escapeOne(char: string): string {
  const named = NAMED[char];
  if (named) return named;
  const code = char.codePointAt(0)!;
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16).toUpperCase()}}`;
}

/** The text with every character that could hide or rearrange what is shown escaped. */
export function escapeControls(text: string): string {
  let out = '';
  for (const char of text) out += needsEscape(char.codePointAt(0)!) ? escapeOne(char) : char;
  return out;
}

/**
 * A value as a message shows it: quoted, escaped, redacted, and cut to `max` characters
 * with its full length said: `"aaaa…" (100000 characters)`.
 */
export function quote(value: unknown, max = MAX_VALUE_CHARS): string {
  const text = String(value);
  const shown = Array.from(escapeControls(redactUrls(text)));
  if (shown.length <= max) return `"${shown.join('')}"`;
  return `"${shown.slice(0, max).join('')}…" (${Array.from(text).length} characters)`;
}

/**
 * A whole line for the terminal: redacted, escaped, and, when longer than `max`, its
 * beginning and end kept (where a message names the problem and says what is wrong).
 */
export function safeLine(text: string, max = MAX_LINE_CHARS): string {
  const chars = Array.from(escapeControls(redactUrls(text)));
  if (chars.length <= max) return chars.join('');
  const tail = Math.floor(max / 3);
  const head = max - tail - 3;
  return `${chars.slice(0, head).join('')} … ${chars.slice(chars.length - tail).join('')}`;
}
