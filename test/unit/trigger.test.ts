import { runCommand } from '../support/cli';
import { FakeCodeBuild, FakeProject } from './trigger-codebuild-server';

// Runs the bundled command (dist/trigger.js, `npm run build`) against a CodeBuild stand-in
// on 127.0.0.1, found through the SDK's standard AWS_ENDPOINT_URL_CODEBUILD setting.

const factoryProject = (image: string, distributions: string): FakeProject => ({
  name: `tailor-image-${image}`,
  env: { IMAGE_NAME: image, DISTRIBUTIONS: distributions, DISTRIBUTION: distributions.split(' ')[0], RELEASE_LABEL: 'hotdog' },
});

function projects(): FakeProject[] {
  return [
    factoryProject('webapp', 'jammy noble bookworm'),
    factoryProject('wrangler', 'jammy noble'),
    factoryProject('dev-env', 'bookworm'),
    { name: 'tailor-image_cleanup', env: { RELEASE_LABEL: 'hotdog' } },
    { name: 'someone-elses-project', env: {} },
  ];
}

let server: FakeCodeBuild;
let endpoint: string;

beforeEach(async () => {
  server = new FakeCodeBuild(projects());
  endpoint = await server.start();
});

afterEach(async () => {
  await server.stop();
});

function trigger(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runCommand('trigger', [...args, '--poll-interval', '0.01'], {
    timeoutMs: 20000,
    env: {
      AWS_ENDPOINT_URL_CODEBUILD: endpoint,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIDTEST',
      AWS_SECRET_ACCESS_KEY: 'test-secret',
      AWS_PROFILE: '',
      AWS_CONFIG_FILE: '/nonexistent/config',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      TAILOR_IMAGE_PROJECT_PREFIX: '',
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
      expect(start.projectName).toBe('tailor-image-webapp');
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
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^webapp/${d}: logs https://console\\.aws\\.amazon\\.com/cloudwatch/.*group=/tailor-image/tailor-image-webapp`)));
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

  test('--all: every recipe x distribution of the factory (paged project list), nothing else', async () => {
    const result = await trigger(['--all']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(server.operations('ListProjects').length).toBeGreaterThan(1);
    const started = server.operations('StartBuild').map((s) =>
      `${s.projectName}/${s.environmentVariablesOverride.find((v: { name: string }) => v.name === 'DISTRIBUTION').value}`).sort();
    expect(started).toEqual([
      'tailor-image-dev-env/bookworm',
      'tailor-image-webapp/bookworm', 'tailor-image-webapp/jammy', 'tailor-image-webapp/noble',
      'tailor-image-wrangler/jammy', 'tailor-image-wrangler/noble',
    ]);
    expect(result.stdout).toContain('all 6 build(s) succeeded');
  });

  test('--no-wait starts, prints the links and exits without following', async () => {
    const result = await trigger(['--name', 'dev-env', '--no-wait']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^started dev-env\/bookworm: tailor-image-dev-env:[0-9a-f-]+ https:\/\/eu-west-1\.console\.aws\.amazon\.com\/codesuite\/codebuild\/123456789012\/projects\/tailor-image-dev-env\/build\//m);
    expect(server.operations('BatchGetBuilds')).toEqual([]);
  });

  test('--prefix selects another factory', async () => {
    server.projects.push({ ...factoryProject('webapp', 'jammy'), name: 'acme-webapp' });
    const result = await trigger(['--name', 'webapp', '--prefix', 'acme']);
    expect(result.code).toBe(0);
    expect(server.operations('StartBuild').map((s) => s.projectName)).toEqual(['acme-webapp']);
  });
});

describe('trigger: bad input and failures, one line each, nothing started', () => {
  const cases: Array<[string, string[], number, RegExp]> = [
    ['neither --name nor --all', [], 2, /^trigger: error: give exactly one of --name <image> or --all$/],
    ['both --name and --all', ['--name', 'webapp', '--all'], 2, /give exactly one of --name/],
    ['an unknown image', ['--name', 'nope'], 2, /^trigger: error: no CodeBuild project "tailor-image-nope" \(is the factory deployed, and is --prefix right\?\)$/],
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
    expect(result.stderr).toBe('trigger: error: StartBuild of tailor-image-webapp (jammy) failed: AccessDeniedException: StartBuild refused by the test\n');
  });
});
