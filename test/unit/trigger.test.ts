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

function projects(): FakeProject[] {
  return [
    factoryProject('webapp', 'jammy noble bookworm'),
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
    const result = await trigger(['--name', 'webapp', '--distribution', 'jammy', '--distribution', 'noble',
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
    // Every phase is reported once per build, in order, and the log links are printed.
    for (const d of ['jammy', 'noble']) {
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
    const result = await trigger(['--name', 'webapp', '--distribution', 'jammy', '--distribution', 'noble']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('trigger: error: 1 of 2 build(s) did not succeed: webapp/noble FAILED\n');
    expect(result.stdout).toMatch(/^webapp\/noble: FAILED in BUILD \(Error while executing command: node create_image\.js\. Reason: exit status 1\) \(https:\/\//m);
    expect(result.stdout).toMatch(/^webapp\/jammy: SUCCEEDED/m);
    // The failed build skipped the phases after BUILD, as CodeBuild does.
    expect(result.stdout).not.toMatch(/^webapp\/noble: POST_BUILD$/m);
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
    expect(result.stdout).toMatch(/^started dev-env\/bookworm: Acme-dev-env:[0-9a-f-]+ https:\/\/eu-west-1\.console\.aws\.amazon\.com\/codesuite\/codebuild\/123456789012\/projects\/Acme-dev-env\/build\//m);
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
    ['an unknown image', ['--name', 'nope'], 2, /^trigger: error: no CodeBuild project "Acme-nope" \(is the factory "Acme" deployed, and is --factory right\?\)$/],
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
