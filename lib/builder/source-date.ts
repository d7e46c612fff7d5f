import { timestampToEpoch } from '../core/naming';
import { BuildRequest } from './request';

/**
 * The build's SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/source-date-epoch/):
 * the build timestamp (`--timestamp`, else the run's start) as seconds since the epoch.
 * Every time the builder or a tool it runs writes into an image is this time or earlier,
 * so two cold builds with one timestamp give the same bytes.
 */
export function sourceDateEpoch(request: Pick<BuildRequest, 'timestamp'>): number {
  return timestampToEpoch(request.timestamp);
}

/**
 * The variables that make tools write the build time instead of the clock's:
 * SOURCE_DATE_EPOCH (mmdebstrap, dpkg, shadow's useradd/chpasswd, initramfs-tools, mtools,
 * python's compileall) and E2FSPROGS_FAKE_TIME (mke2fs 1.47.0 ignores SOURCE_DATE_EPOCH;
 * this sets its superblock times and every inode's creation time).
 */
export function sourceDateEnv(epoch: number): Record<string, string> {
  return { SOURCE_DATE_EPOCH: String(epoch), E2FSPROGS_FAKE_TIME: String(epoch) };
}

/** The same, for a request. */
export function sourceDateEnvOf(request: Pick<BuildRequest, 'timestamp'>): Record<string, string> {
  return sourceDateEnv(sourceDateEpoch(request));
}

/**
 * The parts of an image that this build could not make reproducible, in a few words each
 * (empty: two cold builds with this timestamp from the same archive state give the same bytes).
 */
export function unreproducibleParts(facts: { cache: string; passwordKind?: 'hash' | 'plain' }): string[] {
  const parts: string[] = [];
  if (facts.cache === 'hit') parts.push('the base tree came from the bootstrap cache (build with --no-cache)');
  if (facts.passwordKind === 'plain') parts.push("the user's password is hashed with a random salt (give a crypt(3) hash)");
  return parts;
}
