import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { BuildError } from '../../lib/core/errors';
import { distribution } from '../../lib/core/distributions';
import { BuildRequest } from '../../lib/builder/request';
import { checksFor } from '../../lib/builder/image-tests/checks';
import { SerialChannel } from '../../lib/builder/image-tests/qemu';
import { channelUnitText } from '../../lib/builder/image-tests/qemu';
import { TEST_RUNTIMES } from '../../lib/builder/image-tests';
import { testStage } from '../../lib/builder/stages/test';
import { BuildPlan } from '../../lib/builder/context';
import { DirectoryCatalog } from '../../lib/recipes/catalog';
import { RecipeSchema } from '../../lib/recipes/schema';
import { createImageCommand } from '../../lib/cli/create-image-options';
import { testMode } from '../../lib/cli/resolve-request';
import { silentLog } from '../../lib/core/log';
import { entryFor } from '../../lib/storage/indexes/tailor-index';
import { buildSummary } from '../../lib/cli/summary';

const GATE_CATALOG = new DirectoryCatalog(join(__dirname, '..', 'fixtures', 'catalog-gate'));

function requestFor(name: string, extra: Partial<BuildRequest> = {}): BuildRequest {
  return {
    name,
    recipe: GATE_CATALOG.recipe(name),
    distribution: distribution('bookworm'),
    architecture: 'amd64',
    nameField: name,
    organization: 'acme',
    releaseTrack: 'hotdog',
    releaseLabel: 'hotdog',
    flavour: name,
    timestamp: '20261202.010000',
    imageName: `acme_${name}_bookworm_hotdog_20261202.010000`,
    installBundle: false,
    workRoot: '/nonexistent',
    keepWorkDir: false,
    noCache: true,
    cacheDir: '/nonexistent',
    cacheMaxAgeHours: 24,
    allowedSourceDirs: [],
    ...extra,
  };
}

describe('recipe tests:', () => {
  test('name and run, with a default timeout of 120 s', () => {
    const recipe = RecipeSchema.parse({ build_type: 'lxd', os_versions: ['bookworm'], tests: [{ name: 'a', run: 'true' }, { name: 'b', run: 'false', timeout: 5 }] });
    expect(recipe.tests).toEqual([{ name: 'a', run: 'true', timeout: 120 }, { name: 'b', run: 'false', timeout: 5 }]);
    expect(RecipeSchema.parse({ build_type: 'lxd', os_versions: ['bookworm'] }).tests).toEqual([]);
  });

  test('names are unique and short; run is required; unknown keys are refused', () => {
    const parse = (tests: unknown) => RecipeSchema.safeParse({ build_type: 'lxd', os_versions: ['bookworm'], tests });
    expect(parse([{ name: 'a', run: 'true' }, { name: 'a', run: 'true' }]).success).toBe(false);
    expect(parse([{ name: 'Has Space', run: 'true' }]).success).toBe(false);
    expect(parse([{ name: 'a' }]).success).toBe(false);
    expect(parse([{ name: 'a', run: 'true', shell: 'bash' }]).success).toBe(false);
    expect(parse([{ name: 'a', run: 'true', timeout: 0 }]).success).toBe(false);
  });
});

describe('the built-in checks', () => {
  test('a booting image: init, user, hostname (the runtime\'s where it names the machine), then the recipe\'s tests', () => {
    const checks = checksFor({ request: requestFor('gate-lxd') }, { boots: true, expectedHostname: 'tailor-test-1234' });
    expect(checks.map((c) => `${c.kind}:${c.name}`)).toEqual(['built-in:init', 'built-in:user', 'built-in:hostname', 'recipe:marker-file', 'recipe:user-home']);
    expect(checks[2].command).toContain("'tailor-test-1234'");
    expect(checks[4].timeoutSeconds).toBe(30);
    const disk = checksFor({ request: requestFor('gate-disk') }, { boots: true });
    expect(disk.find((c) => c.name === 'hostname')!.command).toContain("'gate-disk'");
  });

  test('a docker image has no init and the runtime sets its host name: user and the recipe\'s tests only', () => {
    const checks = checksFor({ request: requestFor('gate-docker') }, { boots: false });
    expect(checks.map((c) => c.name)).toEqual(['user', 'greeting-set']);
    expect(checks[0].command).toContain("[ \"$(id -un)\" = 'gate' ]");
  });

  test('the bundle is checked when the build installs one', () => {
    const request = requestFor('gate-lxd-fail', { aptRepo: 'https://apt.example.com', installBundle: true });
    request.recipe = { ...request.recipe, org_repo: { ...request.recipe.org_repo, allow_unsigned: true } };
    const bundle = checksFor({ request }, { boots: true }).find((c) => c.name === 'bundle');
    expect(bundle?.command).toContain("'acme-gate-lxd-fail-hotdog'");
    expect(checksFor({ request: requestFor('gate-lxd-fail') }, { boots: true }).map((c) => c.name)).not.toContain('bundle');
  });

  test('the init check passes only for "running" with no failed unit, and shows the failed ones', async () => {
    const init = checksFor({ request: requestFor('gate-broken-unit') }, { boots: true })[0];
    // A fake systemctl on PATH stands in for the guest's.
    const fake = (state: string, failed: string) =>
      runShell(`systemctl() { case "$1" in is-system-running) echo ${state};; --failed) printf '%s' '${failed}';; esac; }; journalctl() { :; }; ${init.command}`);
    expect((await fake('running', '')).status).toBe(0);
    const degraded = await fake('degraded', 'gate-broken.service loaded failed failed x');
    expect(degraded.status).not.toBe(0);
    expect(degraded.output).toContain('gate-broken.service');
    expect((await fake('starting', '')).status).not.toBe(0);
  });
});

function runShell(script: string): Promise<{ status: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script]);
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    child.on('close', (code) => resolve({ status: code ?? 1, output }));
  });
}

describe('the test gate is on, off or forced', () => {
  test('--test forces it; --no-test and build-only turn it off, saying why; stored images get it when the host can', () => {
    expect(testMode(true, { mode: 'build-only', path: '/x' })).toEqual({ mode: 'force' });
    expect(testMode(false, { mode: 'local', path: '/x' })).toEqual({ mode: 'off', reason: '--no-test' });
    expect(testMode(undefined, { mode: 'build-only', path: '/x' }).reason).toMatch(/build-only.*--test/);
    expect(testMode(undefined, { mode: 'local', path: '/x' })).toEqual({ mode: 'auto' });
    expect(testMode(undefined, { mode: 'publish', bucket: 'b' })).toEqual({ mode: 'auto' });
  });

  test('create_image parses --test and --no-test', () => {
    const parse = (...flags: string[]) => createImageCommand('t').parse(['--name', 'a', '--distribution', 'bookworm', ...flags], { from: 'user' }).opts().test;
    expect(parse()).toBeUndefined();
    expect(parse('--test')).toBe(true);
    expect(parse('--no-test')).toBe(false);
  });

  test('--test fails before any work when the host cannot run the image; auto turns itself off with the reason', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const plan = (mode: 'force' | 'auto') => ({ request: requestFor('gate-docker', { test: { mode } }), log: silentLog }) as unknown as BuildPlan;
      await expect(testStage.verify(plan('force'))).rejects.toThrow(BuildError);
      await expect(testStage.verify(plan('force'))).rejects.toThrow(/--test: this host cannot run docker images to test them \(podman: no podman/);
      const auto = plan('auto');
      await testStage.verify(auto);
      expect(auto.testing?.off).toMatch(/cannot run docker images/);
    } finally {
      process.env.PATH = path;
    }
  });

  test('every build type has a runtime; disks (bare_metal, ami) share QEMU', () => {
    expect(TEST_RUNTIMES.lxd?.map((r) => r.name)).toEqual(['lxd', 'podman-systemd']);
    expect(TEST_RUNTIMES.docker?.map((r) => r.name)).toEqual(['podman']);
    expect(TEST_RUNTIMES.bare_metal).toEqual(TEST_RUNTIMES.ami);
    expect(TEST_RUNTIMES.bare_metal?.[0].name).toBe("qemu");
  });
});

describe('the QEMU test channel', () => {
  test('the unit the test copy gets is a shell on ttyS1, wanted by multi-user.target', () => {
    expect(channelUnitText('/dev/ttyS1')).toContain('TTYPath=/dev/ttyS1');
    expect(channelUnitText('/dev/ttyS1')).toContain('WantedBy=multi-user.target');
  });

  test('commands framed by markers: output and status read back, a timeout reported as 124', async () => {
    // A plain shell on pipes stands in for the guest's shell on the serial port.
    const child = spawn('sh', [], { stdio: ['pipe', 'pipe', 'pipe'] });
    const channel = new SerialChannel(child);
    try {
      expect(await channel.exec("echo 'one'; echo two >&2; exit 3", 10)).toEqual({ status: 3, output: 'one\ntwo' });
      expect(await channel.exec('true', 10)).toEqual({ status: 0, output: '' });
      expect((await channel.exec('sleep 5', 1)).status).toBe(124);
    } finally {
      child.kill();
    }
  });
});

describe('the results', () => {
  const tests = { runtime: 'lxd', seconds: 9.5, checks: [{ name: 'init', kind: 'built-in' as const, passed: true, seconds: 3.2 }] };
  const image = {
    imageName: 'acme_gate-lxd_bookworm_hotdog_20261202.010000', name: 'gate-lxd', distribution: 'bookworm', organization: 'acme',
    releaseLabel: 'hotdog', timestamp: '20261202.010000', buildType: 'lxd' as const, indexKey: 'raw', manifestPath: '/m',
    artifacts: [{ fileName: 'a.tar.gz', path: '/a.tar.gz', role: 'image' as const, md5: 'm', sha256: 's', size: 1 }],
  };

  test('go into the index entry beside the checksums, and only when the image was tested', () => {
    expect(entryFor({ ...image, tests }).entry.tests).toEqual(tests);
    expect(entryFor(image).entry).not.toHaveProperty('tests');
  });

  test('go into --json beside the timings', () => {
    const stored = { mode: 'local', files: [], index: '/i' } as unknown as Parameters<typeof buildSummary>[2];
    const outcome = { image: { ...image, tests }, timings: { test: 9.5 }, cache: 'hit' as const, sourceDateEpoch: 1700000000, unreproducible: [] };
    expect(buildSummary(requestFor('gate-lxd'), outcome, stored, 10).tests).toEqual(tests);
    expect(buildSummary(requestFor('gate-lxd'), { ...outcome, image }, stored, 10)).not.toHaveProperty('tests');
  });
});
