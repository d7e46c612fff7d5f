import { EXCLUDED_CONTENTS } from './layer';

/**
 * GNU tar arguments for a layer that must be byte-identical whenever its tree is: names
 * sorted, numeric owners, no atime/ctime, mtimes in whole seconds (so a tree unpacked
 * from a tarball packs as the tree it came from) and clamped to `epoch`, only file
 * capabilities among the xattrs (never overlay's own), nothing below the mount points.
 * Kept apart from the single-layer packer's arguments on purpose: a change there must not
 * change the digest of a shared base layer every registry already holds.
 */
export function layerTarArgs(dir: string, epoch: number): string[] {
  return [
    '--create',
    '--file=-',
    `--directory=${dir}`,
    '--sort=name',
    '--format=posix',
    '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime,delete=mtime',
    `--mtime=@${epoch}`,
    '--clamp-mtime',
    '--numeric-owner',
    '--xattrs',
    '--xattrs-include=security.capability',
    '--warning=no-file-ignored',
    '--anchored',
    ...EXCLUDED_CONTENTS.map((name) => `--exclude=./${name}/*`),
    '.',
  ];
}
