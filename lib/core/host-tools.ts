import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { BuildError } from './errors';

/** A program the build runs on the host, and the Debian/Ubuntu package that provides it. */
export interface HostTool {
  command: string;
  package: string;
}

export function findOnPath(command: string, path = process.env.PATH ?? ''): string | undefined {
  const dirs = [...path.split(delimiter), '/usr/sbin', '/sbin'].filter(Boolean);
  for (const dir of dirs) {
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* keep looking */
    }
  }
  return undefined;
}

/** Fails with one line naming every missing tool and the packages that bring them. */
export function requireHostTools(tools: readonly HostTool[]): void {
  const missing = uniqueBy(tools, (t) => t.command).filter((tool) => !findOnPath(tool.command));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((t) => t.package))].join(' ');
  throw new BuildError(
    `missing host tool${missing.length > 1 ? 's' : ''} ${missing.map((t) => t.command).join(', ')} ` +
      `(install with: apt-get install ${packages})`,
  );
}

function uniqueBy<T>(items: readonly T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => (seen.has(key(item)) ? false : (seen.add(key(item)), true)));
}
