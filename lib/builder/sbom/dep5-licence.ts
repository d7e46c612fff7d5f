import { SPDX } from '@cyclonedx/cyclonedx-library';
import { fieldOf, parseDeb822 } from './dpkg-status';

// spdx-expression-parse ships no types (and an ambient declaration would not travel with the
// package's own declarations); only whether an expression parses matters here.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const parseSpdx = require('spdx-expression-parse') as (expression: string) => unknown;

/** What SPDX and CycloneDX say when the licence is not known. */
export const NOASSERTION = 'NOASSERTION';

/**
 * Debian's short licence names (DEP-5, "License Specification") that differ from the SPDX
 * identifier, lower-cased. A trailing "+" is "or any later version". Names not listed are
 * tried as written (many Debian names are SPDX identifiers: Apache-2.0, MPL-2.0, Zlib...).
 */
const DEBIAN_TO_SPDX: Record<string, string> = {
  expat: 'MIT',
  'bsd-2-clause': 'BSD-2-Clause',
  'bsd-3-clause': 'BSD-3-Clause',
  'bsd-4-clause': 'BSD-4-Clause',
  'apache-2': 'Apache-2.0',
  artistic: 'Artistic-1.0-Perl',
  'artistic-2': 'Artistic-2.0',
  'psf-2': 'PSF-2.0',
  python: 'Python-2.0',
  zlib: 'Zlib',
  isc: 'ISC',
  cc0: 'CC0-1.0',
  'cc0-1.0': 'CC0-1.0',
  'mpl-1.1': 'MPL-1.1',
  'mpl-2.0': 'MPL-2.0',
  'mpl-2': 'MPL-2.0',
  x11: 'X11',
  curl: 'curl',
  openssl: 'OpenSSL',
  'ofl-1.1': 'OFL-1.1',
  'bsl-1.0': 'BSL-1.0',
  unlicense: 'Unlicense',
};

/** Licence exceptions as Debian names them (`GPL-3+ with Bison exception`), lower-cased. */
const EXCEPTIONS: Record<string, string> = {
  bison: 'Bison-exception-2.2',
  autoconf: 'Autoconf-exception-2.0',
  libtool: 'Libtool-exception',
  classpath: 'Classpath-exception-2.0',
  font: 'Font-exception-2.0',
};

/** GNU licences: Debian writes `GPL-2`, `LGPL-2.1+`; SPDX `GPL-2.0-only`, `LGPL-2.1-or-later`. */
const GNU = /^(A?GPL|LGPL|GFDL)-(\d)(?:\.(\d))?(\+)?$/i;
/** The GFDL without invariant sections: Debian `GFDL-NIV-1.3`, `GFDL-1.3+-no-invariant`. */
const GFDL_NIV = /^GFDL-(?:NIV-(\d\.\d)(\+)?|(\d\.\d)(\+)?-no-invariants?)$/i;

function spdxIdOf(debianName: string): string {
  const gnu = GNU.exec(debianName);
  if (gnu) {
    const [, family, major, minor, plus] = gnu;
    return `${family.toUpperCase()}-${major}.${minor ?? '0'}-${plus ? 'or-later' : 'only'}`;
  }
  const niv = GFDL_NIV.exec(debianName);
  if (niv) return `GFDL-${niv[1] ?? niv[3]}-no-invariants-${(niv[2] ?? niv[4]) ? 'or-later' : 'only'}`;
  const plus = debianName.endsWith('+') && !debianName.endsWith('-or-later');
  const bare = plus ? debianName.slice(0, -1) : debianName;
  // Then SPDX's own list, case-insensitively (Debian writes BSD-4-clause-UC, SPDX BSD-4-Clause-UC).
  const mapped = DEBIAN_TO_SPDX[bare.toLowerCase()] ?? SPDX.fixupSpdxId(bare) ?? bare;
  return plus ? `${mapped}+` : mapped;
}

function exceptionIdOf(debianName: string): string {
  return EXCEPTIONS[debianName.toLowerCase()] ?? SPDX.fixupSpdxId(debianName) ?? debianName;
}

/**
 * A DEP-5 `License:` short form as an SPDX expression, or undefined when it is not one:
 * names mapped one by one, `or`/`and`/`with` as SPDX operators, and a comma before `and` or
 * `or` closing a group (DEP-5: "GPL-2+ or Artistic, and BSD-3-clause").
 */
export function spdxExpressionOf(debianLicence: string): string | undefined {
  const groups = debianLicence
    .trim()
    .split(/,\s*(?=(?:and|or)\s)/i)
    .map((group) => group.trim());
  const parts: string[] = [];
  for (const [i, group] of groups.entries()) {
    const words = group.split(/\s+/).filter(Boolean);
    const out: string[] = [];
    for (const [j, word] of words.entries()) {
      const lower = word.toLowerCase();
      if (lower === 'and' || lower === 'or' || lower === 'with') out.push(lower.toUpperCase());
      else if (j === words.length - 1 && lower === 'exception' && out.at(-2) === 'WITH') continue;
      else out.push(out.at(-1) === 'WITH' ? exceptionIdOf(word) : spdxIdOf(word));
    }
    const text = out.join(' ');
    parts.push(groups.length > 1 && i < groups.length - 1 && !/^(AND|OR) /.test(text) ? `(${text})` : text);
  }
  const expression = parts.join(' ');
  try {
    parseSpdx(expression);
    return expression;
  } catch {
    return undefined;
  }
}

/**
 * The licence of a package from its `/usr/share/doc/<pkg>/copyright`: when the file is
 * machine-readable (DEP-5, a `Format:` header naming the copyright-format spec), every
 * distinct `License:` short form of the header and the `Files:` paragraphs (in file order), each made an
 * SPDX expression, joined with AND; NOASSERTION when the file is not DEP-5, names no
 * licence, or any of its licences is not an SPDX expression.
 */
export function licenceOfCopyright(text: string | undefined): string {
  if (!text) return NOASSERTION;
  const [header, ...rest] = parseDeb822(text);
  const format = header ? fieldOf(header, 'Format') : undefined;
  if (!format || !/copyright-format|dep5/i.test(format)) return NOASSERTION;
  const shortForms = new Set<string>();
  for (const paragraph of [header, ...rest]) {
    const licence = fieldOf(paragraph, 'License');
    const isLicenceText = paragraph !== header && fieldOf(paragraph, 'Files') === undefined;
    if (!licence || isLicenceText) continue;
    const shortForm = licence.split('\n')[0].trim();
    if (shortForm) shortForms.add(shortForm);
  }
  if (shortForms.size === 0) return NOASSERTION;
  const expressions: string[] = [];
  for (const shortForm of shortForms) {
    const expression = spdxExpressionOf(shortForm);
    if (!expression) return NOASSERTION;
    if (!expressions.includes(expression)) expressions.push(expression);
  }
  const joined = expressions.length === 1 ? expressions[0] : expressions.map((e) => (/\s/.test(e) ? `(${e})` : e)).join(' AND ');
  try {
    parseSpdx(joined);
    return joined;
  } catch {
    return NOASSERTION;
  }
}
