import { CheckResult } from '../../core/image';
import { hostnameOf } from '../hostname';
import { BuildPlan } from '../context';
import { orgRepoFor } from '../org-repo';

/** One command the gate runs in the image; it passes when it exits 0. */
export interface ImageCheck {
  name: string;
  kind: CheckResult['kind'];
  command: string;
  timeoutSeconds: number;
}

/** What the gate knows of the runtime when it picks the checks. */
export interface CheckContext {
  /** The runtime boots the image's init (LXD, nspawn, QEMU); podman runs one command. */
  boots: boolean;
  /** The host name the running image should have (LXD names it after the instance). */
  expectedHostname?: string;
}

/** Units that wait for the network to be online: they cannot succeed in an instance without a network link. */
const WAIT_ONLINE = ['systemd-networkd-wait-online.service', 'NetworkManager-wait-online.service'];

/** Under TCG a first boot takes minutes: the init check waits this long at most. */
export const INIT_TIMEOUT_SECONDS = 600;

/** POSIX-shell single quoting. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The built-in checks every image gets, then the recipe's `tests:` in order:
 * - init: systemd finished booting ("running", or "degraded" only to list what failed) with no failed unit;
 * - user: the recipe's user exists and can run a command (as itself);
 * - hostname: the running image has the host name it should;
 * - bundle: the org bundle's package is installed, when the build installed one.
 * docker images have no init, and their host name is the runtime's: those two are left out.
 */
export function checksFor(plan: Pick<BuildPlan, 'request'>, context: CheckContext): ImageCheck[] {
  const { recipe } = plan.request;
  const checks: ImageCheck[] = [];
  if (context.boots) {
    checks.push({
      name: 'init',
      kind: 'built-in',
      timeoutSeconds: INIT_TIMEOUT_SECONDS,
      command:
        // Right after launch PID 1 may not answer yet: wait until systemctl can tell any state.
        'for i in $(seq 300); do [ -n "$(systemctl is-system-running 2>/dev/null)" ] && break; sleep 1; done; ' +
        // An instance without a network link (LXD without a NIC in its profile) cannot come online:
        // its wait-online units are not waited for, and say so, rather than failing after 2 minutes.
        `if [ -z "$(ls /sys/class/net 2>/dev/null | grep -vx lo)" ]; then echo 'no network link in the test instance: ${WAIT_ONLINE.join(', ')} not waited for'; ` +
        `systemctl mask --runtime --now ${WAIT_ONLINE.join(' ')} >/dev/null 2>&1; systemctl reset-failed ${WAIT_ONLINE.join(' ')} >/dev/null 2>&1; fi; ` +
        'state=$(systemctl is-system-running --wait 2>&1); echo "system: $state"; ' +
        'failed=$(systemctl --failed --no-legend --plain 2>&1); [ -z "$failed" ] || { echo "failed units:"; echo "$failed"; ' +
        'for unit in $(systemctl --failed --no-legend --plain | awk \'{print $1}\'); do journalctl -b -u "$unit" --no-pager -n 5 2>&1; done; }; ' +
        '[ "$state" = running ] && [ -z "$failed" ]',
    });
  }
  if (recipe.user) {
    const user = shellQuote(recipe.user.name);
    checks.push({
      name: 'user',
      kind: 'built-in',
      timeoutSeconds: 60,
      command: context.boots
        ? `id ${user} && runuser -u ${user} -- sh -c 'echo "runs as $(id -un)"'`
        : `id && [ "$(id -un)" = ${user} ]`,
    });
  }
  if (context.boots) {
    const expected = shellQuote(context.expectedHostname ?? hostnameOf(recipe));
    checks.push({
      name: 'hostname',
      kind: 'built-in',
      timeoutSeconds: 30,
      command: `name=$(hostname); echo "host name: $name (expected ${expected.replace(/'/g, '')})"; [ "$name" = ${expected} ]`,
    });
  }
  const bundle = plan.request.installBundle ? orgRepoFor(plan)?.package : undefined;
  if (bundle) {
    checks.push({
      name: 'bundle',
      kind: 'built-in',
      timeoutSeconds: 60,
      command: `dpkg-query -W -f='\${Package} \${Version} \${Status}\\n' ${shellQuote(bundle)} | grep -q ' install ok installed$' && dpkg-query -W ${shellQuote(bundle)}`,
    });
  }
  for (const test of recipe.tests ?? []) {
    checks.push({ name: test.name, kind: 'recipe', timeoutSeconds: test.timeout, command: test.run });
  }
  return checks;
}
