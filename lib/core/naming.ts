import { UsageError } from './errors';
import { quote } from './message-text';

/**
 * Image names follow the tailor convention that existing consumers split on `_`:
 * `{organization}_{name}_{distribution}_{release_label}_{timestamp}`.
 * So no field may contain `_`, and none may hold a path separator, `..` or spaces.
 */
const FIELD_PATTERN = /^[A-Za-z0-9][A-Za-z0-9.+-]*$/;
const TIMESTAMP_PATTERN = /^(\d{4})(\d{2})(\d{2})\.(\d{2})(\d{2})(\d{2})$/;

export type NameField = 'name' | 'organization' | 'release-label' | 'release-track' | 'flavour' | 'distribution';

export function checkNameField(field: NameField, value: string): string {
  const flag = `--${field} ${quote(value)}`;
  if (value === '') throw new UsageError(`--${field} must not be empty`);
  if (value.includes('_')) throw new UsageError(`${flag} must not contain "_" (image names are split on "_")`);
  if (value.includes('/') || value.includes('\\')) throw new UsageError(`${flag} must not contain a path separator`);
  if (value.includes('..')) throw new UsageError(`${flag} must not contain ".."`);
  if (/\s/.test(value)) throw new UsageError(`${flag} must not contain spaces`);
  if (!FIELD_PATTERN.test(value)) {
    throw new UsageError(`${flag} may only hold letters, digits, ".", "+" and "-", starting with a letter or digit`);
  }
  if (value.length > 64) throw new UsageError(`${flag} is longer than 64 characters`);
  return value;
}

/** Checks a `YYYYMMDD.HHMMSS` timestamp, including that it names a real date and time. */
export function checkTimestamp(value: string): string {
  const match = TIMESTAMP_PATTERN.exec(value);
  if (!match) throw new UsageError(`--timestamp ${quote(value)} is not in the form YYYYMMDD.HHMMSS`);
  const [, y, mo, d, h, mi, s] = match.map(Number);
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  if (
    date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d ||
    date.getUTCHours() !== h || date.getUTCMinutes() !== mi || date.getUTCSeconds() !== s
  ) {
    throw new UsageError(`--timestamp ${quote(value)} is not a real date and time`);
  }
  return value;
}

/**
 * How far ahead of this host's clock a build timestamp may be: enough for clocks that
 * disagree a little, not for a build that would sort after every later one (retention
 * keeps the newest, aliases follow it).
 */
export const TIMESTAMP_MAX_SKEW_SECONDS = 600;

/** Checks a timestamp given for a new build: well formed, and not in the future. */
export function checkBuildTimestamp(value: string, now: Date): string {
  const ahead = timestampToEpoch(value) - Math.floor(now.getTime() / 1000);
  if (ahead > TIMESTAMP_MAX_SKEW_SECONDS) {
    const by = ahead >= 2 * 86400 ? `${Math.floor(ahead / 86400)} days` : ahead >= 2 * 3600 ? `${Math.floor(ahead / 3600)} hours` : `${Math.round(ahead / 60)} minutes`;
    throw new UsageError(
      `--timestamp ${value} is ${by} in the future (timestamps are UTC, now is ${formatTimestamp(now)}; ` +
        `at most ${TIMESTAMP_MAX_SKEW_SECONDS / 60} minutes ahead are allowed)`,
    );
  }
  return value;
}

/** Build timestamps are UTC, so builds in different places sort together. */
export function formatTimestamp(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${date.getUTCFullYear()}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}.` +
    `${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}`
  );
}

/** The build time a timestamp names, as seconds since the epoch (UTC reading). */
export function timestampToEpoch(timestamp: string): number {
  const match = TIMESTAMP_PATTERN.exec(checkTimestamp(timestamp))!;
  const [, y, mo, d, h, mi, s] = match.map(Number);
  return Math.floor(Date.UTC(y, mo - 1, d, h, mi, s) / 1000);
}

export interface ImageNameParts {
  organization: string;
  name: string;
  distribution: string;
  releaseLabel: string;
  timestamp: string;
}

export function imageName(parts: ImageNameParts): string {
  return [parts.organization, parts.name, parts.distribution, parts.releaseLabel, parts.timestamp].join('_');
}

export function parseImageName(image: string): ImageNameParts {
  const fields = image.split('_');
  if (fields.length !== 5) throw new UsageError(`${quote(image)} is not an image name (organization_name_distribution_label_timestamp)`);
  const [organization, name, distribution, releaseLabel, timestamp] = fields;
  return { organization, name, distribution, releaseLabel, timestamp: checkTimestamp(timestamp) };
}

/** The bundle package tailor installs: `{organization}-{flavour}-{release_label}`. */
export function bundlePackageName(organization: string, flavour: string, releaseLabel: string): string {
  return `${organization}-${flavour}-${releaseLabel}`.toLowerCase();
}
