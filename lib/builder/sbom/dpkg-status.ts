/**
 * The dpkg database (`/var/lib/dpkg/status`) read as data: deb822 paragraphs, one per
 * package dpkg knows, of which the installed ones make an image's package list.
 */

/** One deb822 paragraph: field names as written (case kept), values with continuation lines joined by "\n". */
export type Deb822Paragraph = Map<string, string>;

/** Splits deb822 text (dpkg status, DEP-5 copyright files) into paragraphs of fields. */
export function parseDeb822(text: string): Deb822Paragraph[] {
  const paragraphs: Deb822Paragraph[] = [];
  let current: Deb822Paragraph | undefined;
  let field: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') {
      if (current && current.size > 0) paragraphs.push(current);
      current = undefined;
      field = undefined;
      continue;
    }
    if (line.startsWith('#')) continue;
    if (/^[ \t]/.test(line)) {
      // A continuation line belongs to the field above it.
      if (current && field) current.set(field, `${current.get(field)}\n${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    current ??= new Map();
    field = line.slice(0, colon).trim();
    current.set(field, line.slice(colon + 1).trim());
  }
  if (current && current.size > 0) paragraphs.push(current);
  return paragraphs;
}

/** A field of a paragraph by name, case-insensitively (deb822 field names are). */
export function fieldOf(paragraph: Deb822Paragraph, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [key, value] of paragraph) if (key.toLowerCase() === lower) return value;
  return undefined;
}

/** An installed package as the image's dpkg database records it. */
export interface InstalledPackage {
  name: string;
  version: string;
  architecture: string;
  /** The source package it was built from (its own name when the record names none). */
  sourceName: string;
  /** The source package's version (the binary's own when the record names none). */
  sourceVersion: string;
  /** The packager, as the record gives it. */
  maintainer?: string;
}

/**
 * The packages whose status is `installed`, sorted by name and architecture. A `Source:`
 * field is `name` or `name (version)`; without it the source is the package itself.
 */
export function installedPackages(statusText: string): InstalledPackage[] {
  const packages: InstalledPackage[] = [];
  for (const paragraph of parseDeb822(statusText)) {
    const name = fieldOf(paragraph, 'Package');
    const version = fieldOf(paragraph, 'Version');
    const status = fieldOf(paragraph, 'Status')?.split(/\s+/);
    if (!name || !version || status?.[2] !== 'installed') continue;
    const source = /^(\S+)(?:\s+\((\S+)\))?$/.exec(fieldOf(paragraph, 'Source') ?? '');
    packages.push({
      name,
      version,
      architecture: fieldOf(paragraph, 'Architecture') ?? 'all',
      sourceName: source?.[1] ?? name,
      sourceVersion: source?.[2] ?? version,
      maintainer: fieldOf(paragraph, 'Maintainer'),
    });
  }
  return packages.sort((a, b) => (a.name === b.name ? cmp(a.architecture, b.architecture) : cmp(a.name, b.name)));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
