/**
 * What a minimised image (recipe `minimise: true`) leaves out at install time: dpkg's
 * path-exclude options, given to mmdebstrap (--dpkgopt, kept in the image's
 * /etc/dpkg/dpkg.cfg.d/99mmdebstrap), so the base's packages, the build's own and any
 * installed later on the machine all skip documentation, man and info pages and
 * translations. Copyright files stay (SBOMs and licence audits read them), and so does the
 * locale alias table glibc reads.
 */
export const MINIMISE_DPKG_OPTIONS: readonly string[] = [
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/info/*',
  'path-exclude=/usr/share/locale/*',
  'path-include=/usr/share/locale/locale.alias',
  'path-exclude=/usr/share/lintian/*',
];

/** The dpkg options a recipe's bootstrap gets. */
export function dpkgOptionsOf(minimise: boolean): string[] {
  return minimise ? [...MINIMISE_DPKG_OPTIONS] : [];
}
