import { runCommand } from '../support/cli';
import { FakeCodeBuild, FakeProject } from './trigger-codebuild-server';
import { FakeStepFunctions } from './trigger-sfn-server';

// Runs the bundled command (dist/trigger.js, `npm run build`) against CodeBuild and Step
// Functions stand-ins on 127.0.0.1, found through the SDK's standard AWS_ENDPOINT_URL_CODEBUILD
// and AWS_ENDPOINT_URL_SFN settings.

const FACTORY = 'Acme';

const factoryProject = (image: string, distributions: string, factory = FACTORY): FakeProject => ({
  name: `${factory}-${image}`,
  env: {
    IMAGE_NAME: image, DISTRIBUTIONS: distributions, DISTRIBUTION: distributions.split(' ')[0], RELEASE_LABEL: 'hotdog',
    RELEASE_LABELS: 'hotdog nightly', CACHE_LOCATION: `cache-bucket/${image}`,
  },
  tags: { 'tailor-image:factory': factory, 'tailor-image:image': image },
});

/** An arm64 project as ImageFactory makes it: `<factory>-<image>-arm64`, ARCHITECTURE=arm64, its own cache place. */
const arm64Project = (image: string, distributions: string): FakeProject => {
  const project = factoryProject(image, distributions);
  return {
    ...project,
    name: `${project.name}-arm64`,
    env: { ...project.env, ARCHITECTURE: 'arm64', CACHE_LOCATION: `cache-bucket/${image}-arm64` },
  };
};

function projects(): FakeProject[] {
  return [
    factoryProject('webapp', 'jammy noble bookworm'),
    arm64Project('webapp', 'jammy noble bookworm'),
    // Only arm64.
    arm64Project('board', 'bookworm'),
    // Named as an arm64 project, but building amd64.
    { ...arm64Project('mislabelled', 'bookworm'), env: { ...arm64Project('mislabelled', 'bookworm').env, ARCHITECTURE: '' } },
    { ...factoryProject('wrangler', 'jammy noble'), secrets: ['WRANGLER_PASSWORD'] },
    factoryProject('dev-env', 'bookworm'),
    { name: `${FACTORY}_cleanup`, env: { RELEASE_LABEL: 'hotdog' }, tags: { 'tailor-image:factory': FACTORY } },
    // Another factory whose name starts with this one's: "Acme-staging"'s webapp.
    factoryProject('webapp', 'jammy', 'Acme-staging'),
    // A project that merely has the name.
    { ...factoryProject('lookalike', 'jammy'), tags: {} },
  ];
}

let server: FakeCodeBuild;
let sfn: FakeStepFunctions;
let endpoint: string;
let sfnEndpoint: string;

beforeEach(async () => {
  server = new FakeCodeBuild(projects());
  endpoint = await server.start();
  sfn = new FakeStepFunctions([
    { name: 'Other-pipeline', tags: { 'tailor-image:factory': 'Other' } },
    { name: 'Acme-staging-pipeline', tags: { 'tailor-image:factory': 'Acme-staging' } },
    { name: `${FACTORY}-pipeline`, tags: { 'tailor-image:factory': FACTORY } },
    { name: 'Stray-pipeline', tags: {} },
  ]);
  sfnEndpoint = await sfn.start();
});

afterEach(async () => {
  await server.stop();
  await sfn.stop();
});

function trigger(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runCommand('trigger', [...args, '--poll-interval', '0.01'], {
    timeoutMs: 20000,
    env: {
      AWS_ENDPOINT_URL_CODEBUILD: endpoint,
      AWS_ENDPOINT_URL_SFN: sfnEndpoint,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIDTEST',
      AWS_SECRET_ACCESS_KEY: 'test-secret',
      AWS_PROFILE: '',
      AWS_CONFIG_FILE: '/nonexistent/config',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      TAILOR_IMAGE_FACTORY: FACTORY,
      ...env,
    },
  });
}

describe('trigger: start and follow builds', () => {
  test('starts one build per distribution with its overrides and follows them to success', async () => {
    const result = await trigger(['--name', 'webapp', '--distribution', 'jammy', '--distribution', 'noble', '--arch', 'amd64',
      '--set', 'TIMESTAMP=20261126.120000', '--set', 'MIRROR=http://mirror.example.com/ubuntu']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const starts = server.operations('StartBuild');
    expect(starts).toHaveLength(2);
    for (const [start, distribution] of starts.map((s, i) => [s, ['jammy', 'noble'][i]] as const)) {
      expect(start.projectName).toBe(`${FACTORY}-webapp`);
      // Each distribution's own cache place, as the pipeline gives it.
      expect(start.cacheOverride).toEqual({ type: 'S3', location: `cache-bucket/webapp/${distribution}` });
      expect(start.environmentVariablesOverride).toEqual(expect.arrayContaining([
        { name: 'DISTRIBUTION', value: distribution, type: 'PLAINTEXT' },
        { name: 'TIMESTAMP', value: '20261126.120000', type: 'PLAINTEXT' },
        { name: 'MIRROR', value: 'http://mirror.example.com/ubuntu', type: 'PLAINTEXT' },
      ]));
    }
    const lines = result.stdout.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('started webapp/'))).toHaveLength(2);
    expect(lines.filter((l) => l.startsWith('started webapp/jammy/amd64: '))).toHaveLength(1);
    // Every phase is reported once per build, in order, and the log links are printed.
    for (const d of ['jammy/amd64', 'noble/amd64']) {
      const phases = lines.filter((l) => l.startsWith(`webapp/${d}: `) && /^[A-Z_]+$/.test(l.split(': ')[1]))
        .map((l) => l.split(': ')[1]);
      expect(phases).toEqual(['QUEUED', 'PROVISIONING', 'DOWNLOAD_SOURCE', 'INSTALL', 'PRE_BUILD', 'BUILD', 'POST_BUILD',
        'UPLOAD_ARTIFACTS', 'FINALIZING']);
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^webapp/${d}: logs https://console\\.aws\\.amazon\\.com/cloudwatch/.*group=/tailor-image/${FACTORY}-webapp`)));
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^webapp/${d}: SUCCEEDED \\(https://`)));
    }
    expect(lines[lines.length - 1]).toBe('all 2 build(s) succeeded');
    expect(server.operations('BatchGetBuilds').length).toBeGreaterThan(5);
  });

  test('a failed build: its phase and reason are shown, one error line, exit 1', async () => {
    server.failDistributions.add('noble');
    const result = await trigger(['--name', 'webapp', '--distribution', 'jammy', '--distribution', 'noble', '--arch', 'amd64']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('trigger: error: 1 of 2 build(s) did not succeed: webapp/noble/amd64 FAILED\n');
    expect(result.stdout).toMatch(/^webapp\/noble\/amd64: FAILED in BUILD \(Error while executing command: node create_image\.js\. Reason: exit status 1\) \(https:\/\//m);
    expect(result.stdout).toMatch(/^webapp\/jammy\/amd64: SUCCEEDED/m);
    // The failed build skipped the phases after BUILD, as CodeBuild does.
    expect(result.stdout).not.toMatch(/^webapp\/noble\/amd64: POST_BUILD$/m);
  });

  test('without --distribution: every distribution the recipe allows', async () => {
    const result = await trigger(['--name', 'wrangler']);
    expect(result.code).toBe(0);
    expect(server.operations('StartBuild').map((s) => s.environmentVariablesOverride.find((v: { name: string }) => v.name === 'DISTRIBUTION').value))
      .toEqual(['jammy', 'noble']);
  });

  test('--all starts the factory\'s pipeline (found by name, checked by tag) and follows it', async () => {
    const result = await trigger(['--all']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    // The state machine list is paged; the tag of the one found is checked; no build is started directly.
    expect(sfn.operations('ListStateMachines').length).toBeGreaterThan(1);
    expect(sfn.operations('ListTagsForResource')).toEqual([{ resourceArn: sfn.arnOf(`${FACTORY}-pipeline`) }]);
    expect(sfn.operations('StartExecution').map((s) => s.stateMachineArn)).toEqual([sfn.arnOf(`${FACTORY}-pipeline`)]);
    expect(server.operations('StartBuild')).toEqual([]);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^started ${FACTORY}-pipeline: arn:aws:states:eu-west-1:123456789012:execution:${FACTORY}-pipeline:\\S+ https://eu-west-1\\.console\\.aws\\.amazon\\.com/states/`));
    expect(lines.filter((l) => l.startsWith('pipeline: '))).toEqual(['pipeline: RUNNING', 'pipeline: SUCCEEDED']);
    expect(lines[lines.length - 1]).toBe('the pipeline succeeded');
  });

  test('--all: a failed execution is one error line with its error, exit 1', async () => {
    sfn.outcome = { status: 'FAILED', error: 'ImageBuildFailed', cause: 'see the notification and the build logs' };
    const result = await trigger(['--all', '--factory', 'Acme-staging']);
    expect(result.code).toBe(1);
    expect(sfn.operations('StartExecution').map((s) => s.stateMachineArn)).toEqual([sfn.arnOf('Acme-staging-pipeline')]);
    expect(result.stderr).toMatch(/^trigger: error: the pipeline FAILED \(ImageBuildFailed: see the notification and the build logs\): see the notification and https:\/\/\S+\n$/);
  });

  test('--all: a pipeline of that name without the factory\'s tag is refused, nothing started', async () => {
    const result = await trigger(['--all', '--factory', 'Stray']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('trigger: error: state machine "Stray-pipeline" is not factory "Stray"\'s (it has no tailor-image:factory tag)\n');
    expect(sfn.operations('StartExecution')).toEqual([]);
  });

  test('--no-wait starts, prints the links and exits without following', async () => {
    const result = await trigger(['--name', 'dev-env', '--no-wait']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^started dev-env\/bookworm\/amd64: Acme-dev-env:[0-9a-f-]+ https:\/\/eu-west-1\.console\.aws\.amazon\.com\/codesuite\/codebuild\/123456789012\/projects\/Acme-dev-env\/build\//m);
    expect(server.operations('BatchGetBuilds')).toEqual([]);
  });

  test('--factory selects another factory; its projects are told apart by tag, not by name', async () => {
    const result = await trigger(['--name', 'webapp', '--factory', 'Acme-staging']);
    expect(result.code).toBe(0);
    expect(server.operations('StartBuild').map((s) => s.projectName)).toEqual(['Acme-staging-webapp']);
    // The old flag still works.
    const old = await trigger(['--name', 'webapp', '--prefix', 'Acme-staging', '--no-wait']);
    expect(old.code).toBe(0);
  });

  test('without --arch: every architecture the factory has a project for, each on its project with its own cache place', async () => {
    const result = await trigger(['--name', 'webapp', '--distribution', 'bookworm']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const starts = server.operations('StartBuild');
    expect(starts.map((s) => [s.projectName, s.cacheOverride.location])).toEqual([
      [`${FACTORY}-webapp`, 'cache-bucket/webapp/bookworm'],
      [`${FACTORY}-webapp-arm64`, 'cache-bucket/webapp-arm64/bookworm'],
    ]);
    // No ARCHITECTURE override: the project sets its own. One TIMESTAMP for both architectures,
    // so they land in one slot time (and the usual docker tag gets their image index).
    for (const start of starts) expect(start.environmentVariablesOverride.map((v: { name: string }) => v.name)).toEqual(['TIMESTAMP', 'DISTRIBUTION']);
    const stamps = starts.map((s) => s.environmentVariablesOverride.find((v: { name: string }) => v.name === 'TIMESTAMP').value);
    expect(stamps[0]).toMatch(/^\d{8}\.\d{6}$/);
    expect(stamps[1]).toBe(stamps[0]);
    const lines = result.stdout.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('started '))).toEqual([
      expect.stringMatching(/^started webapp\/bookworm\/amd64: Acme-webapp:/),
      expect.stringMatching(/^started webapp\/bookworm\/arm64: Acme-webapp-arm64:/),
    ]);
    expect(lines).toContainEqual(expect.stringMatching(/^webapp\/bookworm\/arm64: SUCCEEDED \(https:/));
    expect(lines[lines.length - 1]).toBe('all 2 build(s) succeeded');
    // An amd64-only recipe: its one project; an arm64-only one: its one project.
    await trigger(['--name', 'wrangler', '--distribution', 'jammy', '--no-wait']);
    await trigger(['--name', 'board', '--no-wait']);
    expect(server.operations('StartBuild').slice(2).map((s) => s.projectName)).toEqual([`${FACTORY}-wrangler`, `${FACTORY}-board-arm64`]);
  });

  test('an operator who may read only the amd64 project (a factory granted before arm64 projects) still starts it', async () => {
    server.readableProjects = new Set([`${FACTORY}-wrangler`]);
    const result = await trigger(['--name', 'wrangler', '--distribution', 'jammy', '--no-wait']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(server.operations('StartBuild').map((s) => s.projectName)).toEqual([`${FACTORY}-wrangler`]);
    // Asked for by --arch, the refusal is the answer; with nothing readable, too.
    const asked = await trigger(['--name', 'wrangler', '--arch', 'arm64']);
    expect(asked.code).toBe(1);
    expect(asked.stderr).toMatch(/^trigger: error: BatchGetProjects failed: AccessDeniedException: not authorized .*project\/Acme-wrangler-arm64\n$/);
    server.readableProjects = new Set();
    const none = await trigger(['--name', 'wrangler']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^trigger: error: BatchGetProjects failed: AccessDeniedException: not authorized .*project\/Acme-wrangler\n$/);
  });

  test('--arch arm64 starts only the arm64 project; a failure names the architecture', async () => {
    server.failDistributions.add('noble');
    const result = await trigger(['--name', 'webapp', '--arch', 'arm64', '--arch', 'arm64', '--distribution', 'noble']);
    expect(result.code).toBe(1);
    expect(server.operations('StartBuild').map((s) => s.projectName)).toEqual([`${FACTORY}-webapp-arm64`]);
    expect(result.stderr).toBe('trigger: error: 1 of 1 build(s) did not succeed: webapp/noble/arm64 FAILED\n');
  });

  test('--set RELEASE_LABEL to a label the factory granted', async () => {
    const result = await trigger(['--name', 'webapp', '--distribution', 'jammy', '--set', 'RELEASE_LABEL=nightly', '--no-wait']);
    expect(result.code).toBe(0);
    expect(server.operations('StartBuild')[0].environmentVariablesOverride).toEqual(expect.arrayContaining([
      { name: 'RELEASE_LABEL', value: 'nightly', type: 'PLAINTEXT' },
    ]));
  });
});

describe('trigger: bad input and failures, one line each, nothing started', () => {
  const cases: Array<[string, string[], number, RegExp]> = [
    ['neither --name nor --all', [], 2, /^trigger: error: give exactly one of --name <image> or --all$/],
    ['both --name and --all', ['--name', 'webapp', '--all'], 2, /give exactly one of --name/],
    ['an unknown image', ['--name', 'nope'], 2, /^trigger: error: no CodeBuild project "Acme-nope" or "Acme-nope-arm64" \(is the factory "Acme" deployed, and is --factory right\?\)$/],
    ['--arch of a project the factory did not make', ['--name', 'wrangler', '--arch', 'arm64'], 2,
      /^trigger: error: no CodeBuild project "Acme-wrangler-arm64" \(is the factory "Acme" deployed, and is --factory right\?\)$/],
    ['an unknown --arch', ['--name', 'webapp', '--arch', 'riscv64'], 2, /^trigger: error: --arch "riscv64" is not an architecture \(amd64, arm64\)$/],
    ['--arch with --all', ['--all', '--arch', 'arm64'], 2, /^trigger: error: --arch goes with --name, not --all/],
    ['--set ARCHITECTURE', ['--name', 'webapp', '--set', 'ARCHITECTURE=amd64'], 2, /^trigger: error: --set ARCHITECTURE: use --arch/],
    ['a project named for arm64 that builds amd64', ['--name', 'mislabelled'], 2,
      /^trigger: error: CodeBuild project "Acme-mislabelled-arm64" builds amd64, not arm64 \(its ARCHITECTURE\)$/],
    ['a project of that name without the factory\'s tag', ['--name', 'lookalike'], 2,
      /^trigger: error: CodeBuild project "Acme-lookalike" is not factory "Acme"'s \(it has no tailor-image:factory tag\)$/],
    ['the recipe\'s own secret', ['--name', 'wrangler', '--set', 'WRANGLER_PASSWORD=hunter2'], 2,
      /^trigger: error: --set WRANGLER_PASSWORD: secrets come from Secrets Manager or SSM, never from the command line$/],
    ['a release label the factory did not grant', ['--name', 'webapp', '--set', 'RELEASE_LABEL=experimental'], 2,
      /^trigger: error: --set RELEASE_LABEL=experimental: project "Acme-webapp" may publish only under hotdog, nightly \(add the label to the factory's releaseLabels to grant it\)$/],
    ['the factory\'s own bookkeeping', ['--name', 'webapp', '--set', 'RELEASE_LABELS=experimental'], 2,
      /^trigger: error: --set RELEASE_LABELS: set by the factory, not per build$/],
    ['--set with --all', ['--all', '--set', 'TIMESTAMP=20261126.120000'], 2, /^trigger: error: --set goes with --name, not --all/],
    ['a bad --factory', ['--all', '--factory', 'no_underscores'], 2, /^trigger: error: --factory "no_underscores" is not a factory name$/],
    ['a distribution the recipe does not allow', ['--name', 'wrangler', '--distribution', 'bookworm'], 2,
      /^trigger: error: image "wrangler" is not built for bookworm \(its distributions: jammy, noble\)$/],
    ['a name with "_"', ['--name', 'web_app'], 2, /--name "web_app" must not contain "_"/],
    ['a bad --set', ['--name', 'webapp', '--set', 'NOVALUE'], 2, /--set "NOVALUE" is not NAME=VALUE/],
    ['a secret on the command line', ['--name', 'webapp', '--set', 'USER_PASSWORD=hunter2'], 2, /secrets come from Secrets Manager or SSM/],
    ['--distribution with --all', ['--all', '--distribution', 'jammy'], 2, /--distribution goes with --name/],
    ['an unknown flag', ['--name', 'webapp', '--colour'], 2, /^trigger: error: unknown option '--colour'/],
  ];
  test.each(cases)('%s', async (_what, args, code, message) => {
    const result = await trigger(args);
    expect(result.code).toBe(code);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr.trim()).toMatch(message);
    expect(result.stderr).not.toMatch(/^\s+at /m);
    expect(result.stderr).not.toContain('hunter2');
    expect(server.operations('StartBuild')).toEqual([]);
    expect(sfn.operations('StartExecution')).toEqual([]);
  });

  test('no region configured', async () => {
    const result = await trigger(['--name', 'webapp'], { AWS_REGION: '', AWS_DEFAULT_REGION: '' });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('trigger: error: no AWS region: set AWS_REGION or pass --region\n');
  });

  test('CodeBuild refusing the start is a build failure with its reason', async () => {
    server.errors.set('StartBuild', 'AccessDeniedException');
    const result = await trigger(['--name', 'webapp', '--distribution', 'jammy']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`trigger: error: StartBuild of ${FACTORY}-webapp (jammy) failed: AccessDeniedException: StartBuild refused by the test\n`);
  });
});
