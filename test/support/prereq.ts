import { execFileSync } from 'node:child_process';
import { findOnPath } from '../../lib/core/host-tools';

/**
 * End-to-end tests need real tools (mmdebstrap, LXD, QEMU, RGW...). With CI=true a
 * missing prerequisite fails the suite; elsewhere the suite is skipped with one line
 * saying why.
 */
export interface Prerequisite {
  /** What is needed, e.g. "mmdebstrap (apt-get install mmdebstrap)". */
  what: string;
  /** Returns true when available. */
  check: () => boolean;
}

export function tool(command: string, pkg = command): Prerequisite {
  return { what: `${command} (apt-get install ${pkg})`, check: () => findOnPath(command) !== undefined };
}

export function rootUser(): Prerequisite {
  return { what: 'root (the builder mounts and chroots)', check: () => process.getuid?.() === 0 };
}

export function commandSucceeds(what: string, command: string, args: string[]): Prerequisite {
  return {
    what,
    check: () => {
      try {
        execFileSync(command, args, { stdio: 'ignore', timeout: 20000 });
        return true;
      } catch {
        return false;
      }
    },
  };
}

/** The missing prerequisites' descriptions (empty when all are there). */
export function missing(prerequisites: Prerequisite[]): string[] {
  return prerequisites.filter((p) => !p.check()).map((p) => p.what);
}

/**
 * `describe` that runs when every prerequisite is there. Missing ones: under CI=true the
 * suite fails with a test naming them; otherwise it is skipped with one line.
 */
export function describeWith(name: string, prerequisites: Prerequisite[], body: () => void): void {
  const absent = missing(prerequisites);
  if (absent.length === 0) {
    describe(name, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      test('prerequisites are present', () => {
        throw new Error(`missing prerequisite(s): ${absent.join(', ')}`);
      });
    });
    return;
  }
  // eslint-disable-next-line no-console
  console.log(`skipping "${name}": missing ${absent.join(', ')}`);
  describe.skip(name, body);
}
