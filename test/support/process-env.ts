import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** What the builder's child processes were seen with while a watch ran. */
export interface EnvironmentReport {
  /** The command names (comm) of every descendant of the builder seen. */
  seen: Set<string>;
  /** The command names of the descendants seen running inside a chroot (their root is not the host's /). */
  chrooted: Set<string>;
  /** "comm (pid)" of each watched process whose environment held one of the needles. */
  leaks: string[];
}

function rootOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/root`);
  } catch {
    return undefined;
  }
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
}

/**
 * Watches, from /proc, the processes below a running create_image (the one whose own
 * environment holds the needles) and reads the environment of each that runs in a chroot
 * (chroot execs its command: shell steps, apt-get...) or is, or runs below, one of the
 * `roots` (e.g. mmdebstrap: so apt, dpkg and maintainer scripts too). Needs root (to read
 * other processes' environ and root).
 */
export function watchBuilderChildren(needles: string[], roots: string[], intervalMs = 50): { stop(): EnvironmentReport } {
  const seen = new Set<string>();
  const chrooted = new Set<string>();
  const leaks = new Set<string>();
  const holds = (environ: string | undefined) => environ !== undefined && needles.some((needle) => environ.includes(needle));
  const scan = () => {
    const parents = new Map<number, number>();
    const names = new Map<number, string>();
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = read(`/proc/${entry}/stat`);
      if (!stat) continue;
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
      const close = stat.lastIndexOf(')');
      parents.set(Number(entry), Number(stat.slice(close + 2).split(' ')[1]));
      names.set(Number(entry), stat.slice(stat.indexOf('(') + 1, close));
    }
    const builders = [...parents.keys()].filter(
      (pid) => (read(`/proc/${pid}/cmdline`) ?? '').includes('create_image.js') && holds(read(`/proc/${pid}/environ`)),
    );
    const rootDirs = new Map<number, string | undefined>();
    const isChrooted = (pid: number) => {
      if (!rootDirs.has(pid)) rootDirs.set(pid, rootOf(pid));
      const root = rootDirs.get(pid);
      return root !== undefined && root !== '/';
    };
    // Below a builder: whether it is, and whether it or an ancestor below the builder is a root.
    const place = (pid: number): { below: boolean; watched: boolean } => {
      let watched = false;
      for (let at: number | undefined = pid; at !== undefined && at > 1; at = parents.get(at)) {
        if (builders.includes(at)) return { below: at !== pid, watched };
        if (roots.includes(names.get(at) ?? '') || isChrooted(at)) watched = true;
      }
      return { below: false, watched: false };
    };
    for (const pid of parents.keys()) {
      const { below, watched } = place(pid);
      if (!below) continue;
      const name = names.get(pid) ?? '?';
      seen.add(name);
      if (isChrooted(pid)) chrooted.add(name);
      if (watched && holds(read(`/proc/${pid}/environ`))) leaks.add(`${name} (${pid})`);
    }
  };
  const timer = setInterval(scan, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      return { seen, chrooted, leaks: [...leaks] };
    },
  };
}
