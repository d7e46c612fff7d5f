import { Rootfs } from '../../rootfs-path';

/** Where the entrypoint lives inside the image. */
export const ENTRYPOINT_PATH = '/usr/local/bin/tailor-entrypoint';

/**
 * The container's entrypoint: loads the org bundle's environment when the bundle is
 * installed, then runs the command (bash when none is given). The bundle distro (e.g.
 * ros2) is fixed at build time; $BUNDLE_ROOT comes from the image config.
 */
export function entrypointScript(bundleDistro: string | undefined): string {
  const candidates = [
    ...(bundleDistro ? [`"$BUNDLE_ROOT/${bundleDistro}/setup.bash"`] : []),
    '"$BUNDLE_ROOT/setup.bash"',
  ].join(' ');
  return `#!/bin/bash
# Installed by tailor-image: sources the org bundle's setup when present, then runs the command.
if [ -n "\${BUNDLE_ROOT:-}" ]; then
  for tailor_setup in ${candidates}; do
    if [ -f "$tailor_setup" ]; then
      # shellcheck disable=SC1090
      . "$tailor_setup"
      break
    fi
  done
  unset tailor_setup
fi
if [ "$#" -eq 0 ]; then
  set -- bash
fi
exec "$@"
`;
}

/** Writes the entrypoint into the rootfs (root-owned, 0755). */
export async function installEntrypoint(rootfs: string, bundleDistro: string | undefined): Promise<void> {
  await new Rootfs(rootfs).writeFile(ENTRYPOINT_PATH, entrypointScript(bundleDistro), { mode: 0o755 });
}
