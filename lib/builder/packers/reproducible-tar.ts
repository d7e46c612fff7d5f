/**
 * What makes GNU tar and gzip give the same bytes for the same tree, for every packer that
 * writes a tarball (the lxd image, container layers, the OCI layout archive).
 */

export interface DeterministicTarOptions {
  /**
   * true (a rootfs): times later than the build time become the build time, older ones stay
   * (the finalize stage has clamped the tree already; this covers what a packer adds).
   * false (files the packer wrote itself): every entry gets the build time.
   */
  clamp?: boolean;
  /** Extended attributes kept: file capabilities only (containers), or all of them and ACLs (lxd). */
  xattrs?: 'capabilities' | 'all';
  /** Every entry owned by root, modes normalised (archives of files the builder wrote). */
  ownerRoot?: boolean;
}

/**
 * GNU tar flags for a reproducible archive: entries sorted by name, times from the build
 * time, numeric owners only (no host user names), no atime/ctime and no process id in the
 * PAX headers, POSIX format (which keeps xattrs and sub-second times exactly).
 */
export function deterministicTarFlags(epoch: number, options: DeterministicTarOptions = {}): string[] {
  const { clamp = true, xattrs = 'capabilities', ownerRoot = false } = options;
  return [
    '--sort=name',
    '--format=posix',
    '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
    `--mtime=@${epoch}`,
    ...(clamp ? ['--clamp-mtime'] : []),
    '--numeric-owner',
    ...(ownerRoot ? ['--owner=0', '--group=0', '--mode=u=rwX,go=rX'] : []),
    '--xattrs',
    ...(xattrs === 'all' ? ['--xattrs-include=*', '--acls'] : ['--xattrs-include=security.capability']),
  ];
}

/** gzip's header holds a name and a time unless told not to; pigz's output does not depend on its thread count. */
export const REPRODUCIBLE_PIGZ_ARGS = ['-n', '-T'] as const;
