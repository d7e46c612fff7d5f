import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archNameField } from '../../lib/core/architecture';
import { DirectoryCatalog, bundledRecipesDir } from '../../lib/recipes/catalog';
import { standardCatalog } from './constructs-helpers';

const REPO = join(__dirname, '..', '..');

interface SynthResult {
  code: number;
  stdout: string;
  stderr: string;
  out: string;
}

/** Runs the real `npx cdk synth` of cdk.json's app, offline and quiet, into a temp cdk.out. */
function cdkSynth(args: string[], env: NodeJS.ProcessEnv = {}): Promise<SynthResult> {
  const out = mkdtempSync(join(tmpdir(), 'tailor-image-cdkout-'));
  return new Promise((resolve, reject) => {
    const child = spawn('npx', ['--no-install', 'cdk', 'synth', '--quiet', '--output', out, ...args], {
      cwd: REPO,
      env: {
        ...process.env,
        CDK_DISABLE_VERSION_CHECK: '1',
        CDK_DISABLE_CLI_TELEMETRY: 'true',
        CI: 'true',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr, out }));
  });
}

function template(out: string, stack: string): { Resources: Record<string, { Type: string; Properties: Record<string, any> }> } {
  return JSON.parse(readFileSync(join(out, `${stack}.template.json`), 'utf8'));
}

describe('npx cdk synth (cdk.json app)', () => {
  test('synthesizes the bundled recipes from a checkout, with cdk-nag passing and no Docker', async () => {
    const result = await cdkSynth([]);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: expect.not.stringMatching(/docker/i) });
    const resources = template(result.out, 'TailorImageFactory').Resources;
    const names = Object.values(resources).filter((r) => r.Type === 'AWS::CodeBuild::Project').map((r) => r.Properties.Name).sort();
    const catalog = new DirectoryCatalog(bundledRecipesDir());
    // Named after the factory (the stack's name by default): a project per recipe and architecture it allows.
    const expected = catalog.names().flatMap((n) => catalog.recipe(n).architectures.map((arch) => `TailorImageFactory-${archNameField(n, arch)}`));
    expect(expected).toContain('TailorImageFactory-webapp-arm64');
    expect(names).toEqual([...expected, 'TailorImageFactory_cleanup'].sort());
    // The bundled wrangler reads its password from WRANGLER_PASSWORD: cdk.json maps that secret, for both architectures.
    for (const name of ['TailorImageFactory-wrangler', 'TailorImageFactory-wrangler-arm64']) {
      const wrangler = Object.values(resources).find((r) => r.Properties.Name === name)!;
      expect(wrangler.Properties.Environment.EnvironmentVariables).toContainEqual(
        { Name: 'WRANGLER_PASSWORD', Type: 'PARAMETER_STORE', Value: '/tailor-image/WRANGLER_PASSWORD' });
    }
    expect(Object.values(resources).some((r) => r.Type === 'AWS::StepFunctions::StateMachine')).toBe(true);
    // cdk-nag ran as a validation plugin; a failing report would have stopped synth.
    const report = JSON.parse(readFileSync(join(result.out, 'validation-report.json'), 'utf8'));
    const failing = report.pluginReports.filter((p: { conclusion: string }) => p.conclusion !== 'success');
    expect(failing).toEqual([]);
    // The builder asset was bundled locally, with the recipes beside it.
    const assets = readdirSync(result.out).filter((f) => f.startsWith('asset.'));
    expect(assets.some((a) => existsSync(join(result.out, a, 'create_image.js')) && existsSync(join(result.out, a, 'recipes', 'common.yaml')))).toBe(true);
  }, 180000);

  test('reads its settings from a config file and context', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tailor-image-config-'));
    const config = join(dir, 'factory.yaml');
    writeFileSync(config, [
      'stackName: AcmeImages',
      `recipesPath: ${standardCatalog()}`,
      'images: [webapp]',
      'releaseLabel: nightly',
      'schedule: cron(0 3 * * ? *)',
      '',
    ].join('\n'));
    const result = await cdkSynth(['-c', `tailor-image:config=${config}`, '-c', 'tailor-image:numToKeep=4'], { CDK_VALIDATION: 'false' });
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    const resources = template(result.out, 'AcmeImages').Resources;
    const projects = Object.values(resources).filter((r) => r.Type === 'AWS::CodeBuild::Project');
    expect(projects.map((p) => p.Properties.Name).sort()).toEqual(['AcmeImages-webapp', 'AcmeImages_cleanup']);
    const cleanupEnv = projects.find((p) => p.Properties.Name === 'AcmeImages_cleanup')!.Properties.Environment.EnvironmentVariables;
    expect(cleanupEnv).toEqual(expect.arrayContaining([
      { Name: 'NUM_TO_KEEP', Type: 'PLAINTEXT', Value: '4' },
      { Name: 'RELEASE_LABEL', Type: 'PLAINTEXT', Value: 'nightly' },
    ]));
    const rule = Object.values(resources).find((r) => r.Type === 'AWS::Events::Rule')!;
    expect(rule.Properties.ScheduleExpression).toBe('cron(0 3 * * ? *)');
  }, 180000);

  test('a recipe needing a secret the factory was not given fails synth with one line naming the construct', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tailor-image-config-'));
    const config = join(dir, 'factory.yaml');
    // The file's secrets replace cdk.json's (which map WRANGLER_PASSWORD).
    writeFileSync(config, 'images: [wrangler]\nsecrets: {}\n');
    const result = await cdkSynth(['-c', `tailor-image:config=${config}`], { CDK_VALIDATION: 'false' });
    expect(result.code).not.toBe(0);
    const ours = result.stderr.split('\n').filter((line) => line.includes('tailor-image:'));
    expect(ours).toEqual(['tailor-image: TailorImageFactory/Factory/Build-wrangler: recipe wrangler reads a secret from WRANGLER_PASSWORD, which the factory was not given (secrets: { WRANGLER_PASSWORD: BuildSecret... })']);
    expect(result.stderr).not.toMatch(/^\s+at /m);
  }, 180000);

  test('a bad setting fails synth with one line naming it', async () => {
    const result = await cdkSynth(['-c', 'tailor-image:numToKeep=-1'], { CDK_VALIDATION: 'false' });
    expect(result.code).not.toBe(0);
    const ours = result.stderr.split('\n').filter((line) => line.includes('tailor-image:'));
    expect(ours).toEqual([expect.stringContaining('tailor-image: invalid setting numToKeep')]);
    expect(result.stderr).not.toMatch(/^\s+at /m);
  }, 180000);
});
