import { execFileSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import {
  existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { archNameField } from '../../lib/core/architecture';
import { DirectoryCatalog } from '../../lib/recipes/catalog';
import { REPO_ROOT } from '../support/cli';
import {
  ConsumerApp, Manifest, appTool, createConsumerApp, packCleanCheckout, repoManifest, toolEnv,
} from '../support/consumer-app';
import { commandSucceeds, describeWith, tool } from '../support/prereq';
import { stateMachineDefinition } from '../unit/constructs-helpers';

/** The line before the stack example in README.md and docs/AWS.md. */
const EXAMPLE_MARKER = 'consumer-package.test.ts synthesizes the next block';

/** The fenced TypeScript block after the marker line in a Markdown file. */
function stackExample(doc: string): string {
  const lines = readFileSync(join(REPO_ROOT, doc), 'utf8').split('\n');
  const marker = lines.findIndex((line) => line.includes(EXAMPLE_MARKER));
  if (marker < 0) throw new Error(`${doc} has no line saying "${EXAMPLE_MARKER}"`);
  if (lines[marker + 1] !== '```ts') throw new Error(`${doc}: the line after the marker does not open a \`\`\`ts block`);
  const end = lines.indexOf('```', marker + 2);
  if (end < 0) throw new Error(`${doc}: the stack example's block is not closed`);
  return `${lines.slice(marker + 2, end).join('\n')}\n`;
}

interface Template {
  Resources: Record<string, { Type: string; Properties: Record<string, any> }>;
  Outputs?: Record<string, unknown>;
}

interface Synth {
  out: string;
  template: Template;
  text: string;
  assets: string[];
}

/** `npx cdk synth` in the app (as its user runs it), into a fresh folder; optionally with another `--app`. */
function cdkSynth(app: ConsumerApp, work: string, label: string, command?: string): Synth {
  const out = join(work, `cdk.out-${label}`);
  appTool(app, 'cdk', ['synth', '--quiet', '--no-notices', '--output', out, ...(command ? ['--app', command] : [])]);
  const text = readFileSync(join(out, 'PlatformImages.template.json'), 'utf8');
  return { out, text, template: JSON.parse(text) as Template, assets: readdirSync(out).filter((f) => f.startsWith('asset.')).sort() };
}

/** Bare module specifiers in compiled JavaScript (`require("x")`) and declarations (`from 'x'`, `import("x")`). */
function specifiers(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (path: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const file = join(path, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (/\.(js|d\.ts)$/.test(entry.name)) {
        const text = readFileSync(file, 'utf8');
        for (const match of text.matchAll(/(?:require\(|from |import\()["']([^"'.][^"']*)["']/g)) found.set(match[1], relative(dir, file));
      }
    }
  };
  walk(dir);
  return found;
}

function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

describeWith(
  'tailor-image as a package: npm pack from a clean checkout, installed into a fresh CDK app, synthesized',
  [tool('git'), commandSucceeds('npm and the npm registry (npm ping)', 'npm', ['ping'])],
  () => {
    const manifest: Manifest = repoManifest();
    let work = '';
    let tarball = '';
    let app: ConsumerApp;
    let installed = '';
    let tsxSynth: Synth;

    beforeAll(() => {
      work = mkdtempSync(join(tmpdir(), 'tailor-image-consumer-'));
      tarball = packCleanCheckout(work);
      app = createConsumerApp(work, tarball);
      installed = join(app.dir, 'node_modules', manifest.name);
    }, 15 * 60 * 1000);

    afterAll(() => work && rmSync(work, { recursive: true, force: true }));

    test('the tarball holds the compiled library, its declarations, the command bundles, recipes and buildspecs; no sources', () => {
      const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n').map((f) => f.replace(/^package\//, ''));
      expect(files).toEqual(expect.arrayContaining([
        'package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/constructs/image-factory.js',
        'dist/constructs/image-factory.d.ts', 'recipes/common.yaml', 'buildspecs/build-image.yml', 'buildspecs/cleanup-images.yml',
        ...Object.values(manifest.bin),
      ]));
      expect(files.filter((f) => /\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
      expect(files.filter((f) => f.endsWith('.map') || f.startsWith('test/') || f.startsWith('bin/') || f.startsWith('lib/'))).toEqual([]);
      const packed = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' })) as Record<string, unknown>;
      expect(packed.private).toBeUndefined();
      expect(packed.exports).toMatchObject({ '.': { types: './dist/index.d.ts', default: './dist/index.js' } });
    });

    test('the app installed it as files, with no link back into the repository', () => {
      expect(lstatSync(installed).isSymbolicLink()).toBe(false);
      const repo = realpathSync(REPO_ROOT);
      const top = readdirSync(join(app.dir, 'node_modules')).flatMap((name) => name.startsWith('@')
        ? readdirSync(join(app.dir, 'node_modules', name)).map((inner) => join(name, inner))
        : [name]);
      const intoRepo = top.filter((name) => realpathSync(join(app.dir, 'node_modules', name)).startsWith(`${repo}/`));
      expect(intoRepo).toEqual([]);
      expect(relative(repo, app.dir).startsWith('..')).toBe(true);
    });

    test('everything the library requires or its declarations import is a dependency, a peer or built into Node', () => {
      const declared = new Set([...Object.keys(manifest.dependencies), ...Object.keys(manifest.peerDependencies)]);
      // The commands are self-contained bundles (their optional requires stay unresolved on purpose).
      const bundles = new Set(Object.values(manifest.bin).map((file) => relative('dist', file)));
      const undeclared = [...specifiers(join(installed, 'dist'))]
        .filter(([, file]) => !bundles.has(file))
        .filter(([specifier]) => !specifier.startsWith('node:') && !builtinModules.includes(specifier) && !declared.has(packageOf(specifier)))
        .map(([specifier, file]) => `${specifier} (${file})`);
      expect(undeclared).toEqual([]);
    });

    test('README.md and docs/AWS.md show the same stack example', () => {
      expect(stackExample('docs/AWS.md')).toBe(stackExample('README.md'));
    });

    test('cdk synth as `cdk init` sets the app up (tsc type-checks, tsx runs): cdk-nag AwsSolutions clean, the promised resources', () => {
      writeFileSync(app.entry, stackExample('README.md'));
      // Type-checked with the example by the app's `npx tsc`: the names the package promises, as values and types.
      writeFileSync(join(app.dir, 'lib', 'exports-check.ts'), [
        "import { BuildSecret, DirectoryCatalog, ImageBuildPipeline, ImageBuildProject, ImageCleanupProject, ImageFactory,",
        "  IImageStore, ImageStore, ImageStoreBackend, RecipeSource, bundledRecipesDir, imageName } from 'tailor-image';",
        'export const constructs = [ImageFactory, ImageStore, ImageBuildProject, ImageBuildPipeline, ImageCleanupProject];',
        'export const store = (factory: ImageFactory): IImageStore => factory.store;',
        'export const backend = (b: ImageStoreBackend): string => b.describe();',
        'export const recipes = (): string[] => new DirectoryCatalog(bundledRecipesDir()).names();',
        "export const misc = [RecipeSource.bundled, BuildSecret.fromSsmParameter, imageName] as const;",
        '',
      ].join('\n'));
      tsxSynth = cdkSynth(app, work, 'tsx');
      const resources = Object.values(tsxSynth.template.Resources);
      const ofType = (type: string) => resources.filter((r) => r.Type === type);

      const recipes = readdirSync(join(installed, 'recipes', 'images')).map((f) => f.replace(/\.yaml$/, '')).sort();
      expect(recipes.length).toBeGreaterThan(0);
      const projects = ofType('AWS::CodeBuild::Project');
      // A project per recipe and architecture it allows (arm64 ones `<name>-arm64`); physical names come from the factory's name, by default its stack's.
      const catalog = new DirectoryCatalog(join(installed, 'recipes'));
      const builds = recipes.flatMap((name) => catalog.recipe(name).architectures.map((architecture) => ({ name, architecture })));
      expect(builds.some((b) => b.architecture === 'arm64')).toBe(true);
      const projectNames = builds.map(({ name, architecture }) => `PlatformImages-${archNameField(name, architecture)}`);
      expect(projects.map((p) => p.Properties.Name).sort()).toEqual([...projectNames, 'PlatformImages_cleanup'].sort());
      const env = (name: string) => Object.fromEntries(projects.find((p) => p.Properties.Name === name)!.Properties.Environment.EnvironmentVariables
        .map((v: { Name: string; Value: string }) => [v.Name, v.Value]));
      for (const name of projectNames) expect(env(name)).toMatchObject({ DISTRIBUTIONS: 'jammy noble', RELEASE_LABEL: 'hotdog' });
      expect(env('PlatformImages_cleanup')).toMatchObject({ NUM_TO_KEEP: '5', RELEASE_LABEL: 'hotdog' });
      expect(ofType('AWS::CloudFront::Distribution')).toHaveLength(1);
      expect(ofType('AWS::S3::Bucket').length).toBeGreaterThanOrEqual(1);
      expect(ofType('AWS::StepFunctions::StateMachine')).toHaveLength(1);
      expect(ofType('AWS::SNS::Topic')).toHaveLength(1);
      expect(ofType('AWS::Events::Rule').map((r) => r.Properties.ScheduleExpression)).toEqual(['cron(0 3 * * ? *)']);
      expect(Object.keys(tsxSynth.template.Outputs ?? {})).toEqual(['ImagesUrl']);
      // The pipeline builds every recipe x distribution x architecture the example asked for.
      const definition = stateMachineDefinition(ofType('AWS::StepFunctions::StateMachine')[0].Properties.DefinitionString);
      const planned = definition.States[definition.StartAt].Result as { name: string; distribution: string; architecture: string }[];
      expect(planned.map(({ name, distribution, architecture }) => ({ name, distribution, architecture }))).toEqual(
        builds.flatMap(({ name, architecture }) => ['jammy', 'noble'].map((distribution) => ({ name, distribution, architecture }))),
      );

      // The builder asset is the package's prebuilt bundles, byte for byte, beside the recipes.
      // (The other asset is aws-cdk-lib's own handler that empties the cache bucket on deletion.)
      const builderAssets = tsxSynth.assets.filter((name) => existsSync(join(tsxSynth.out, name, 'create_image.js')));
      expect(builderAssets).toHaveLength(1);
      const asset = join(tsxSynth.out, builderAssets[0]);
      for (const command of ['create_image', 'cleanup_images']) {
        expect(readFileSync(join(asset, `${command}.js`)).equals(readFileSync(join(installed, 'dist', `${command}.js`)))).toBe(true);
      }
      expect(existsSync(join(asset, 'recipes', 'common.yaml'))).toBe(true);
      const report = JSON.parse(readFileSync(join(tsxSynth.out, 'validation-report.json'), 'utf8')) as { pluginReports: { conclusion: string }[] };
      expect(report.pluginReports.filter((p) => p.conclusion !== 'success')).toEqual([]);
    }, 10 * 60 * 1000);

    test('cdk-nag is live in that app: a consumer\'s own unchecked bucket beside the factory fails synth, naming only it', () => {
      const control = join(app.dir, 'nag-control.js');
      writeFileSync(control, [
        "const { App, Stack, Validations } = require('aws-cdk-lib');",
        "const s3 = require('aws-cdk-lib/aws-s3');",
        "const { AwsSolutionsChecks } = require('cdk-nag');",
        "const ssm = require('aws-cdk-lib/aws-ssm');",
        "const { BuildSecret, ImageFactory } = require('tailor-image');",
        'const app = new App();',
        'Validations.of(app).addPlugins(new AwsSolutionsChecks(app));',
        "const stack = new Stack(app, 'PlatformImages');",
        "const parameter = ssm.StringParameter.fromSecureStringParameterAttributes(stack, 'Password', { parameterName: '/p' });",
        "new ImageFactory(stack, 'Images', { distributions: ['jammy'], secrets: { WRANGLER_PASSWORD: BuildSecret.fromSsmParameter(parameter) } });",
        "new s3.Bucket(stack, 'Unchecked');",
        '',
      ].join('\n'));
      let failure = '';
      try {
        cdkSynth(app, work, 'control', 'node nag-control.js');
      } catch (error) {
        failure = (error as Error).message;
      }
      expect(failure).toMatch(/AwsSolutions/);
      const named = [...failure.matchAll(/^\s+(PlatformImages\/\S+)/gm)].map((m) => m[1]);
      expect(named.length).toBeGreaterThan(0);
      expect(named.filter((path) => !path.startsWith('PlatformImages/Unchecked'))).toEqual([]);
      rmSync(control);
    }, 10 * 60 * 1000);

    test('cdk synth under ts-node (the app command older `cdk init` wrote) gives the same template and asset', () => {
      const synth = cdkSynth(app, work, 'ts-node', `npx ts-node --prefer-ts-exts ${relative(app.dir, app.entry)}`);
      expect(synth.assets).toEqual(tsxSynth.assets);
      expect(synth.text).toBe(tsxSynth.text);
    }, 10 * 60 * 1000);

    test('cdk synth of plain JavaScript (the app compiled by tsc), with no esbuild installed, gives the same template and asset', () => {
      appTool(app, 'tsc', ['--noEmit', 'false', '--outDir', 'js']);
      // tsx brought esbuild into the app; the package must not need it, so every copy goes.
      const esbuildDirs = () => execFileSync('find', [join(app.dir, 'node_modules'), '-type', 'd', '(', '-name', 'esbuild', '-o', '-name', '@esbuild', ')', '-prune'], { encoding: 'utf8' })
        .split('\n').filter(Boolean);
      expect(esbuildDirs().length).toBeGreaterThan(0);
      for (const dir of esbuildDirs()) rmSync(dir, { recursive: true, force: true });
      expect(esbuildDirs()).toEqual([]);
      const synth = cdkSynth(app, work, 'node', `node js/bin/${relative(join(app.dir, 'bin'), app.entry).replace(/\.ts$/, '.js')}`);
      expect(synth.assets).toEqual(tsxSynth.assets);
      expect(synth.text).toBe(tsxSynth.text);
    }, 10 * 60 * 1000);

    test('CommonJS and ESM consumers import the same named exports', () => {
      // Node reads a CommonJS module's exports for ESM from its code; both carry the __esModule marker.
      const names = (type: 'commonjs' | 'module') => (JSON.parse(execFileSync(process.execPath, [
        '--input-type', type, '-e',
        type === 'module'
          ? "import * as api from 'tailor-image'; console.log(JSON.stringify(Object.keys(api).filter((k) => k !== 'default').sort()))"
          : "console.log(JSON.stringify(Object.keys(require('tailor-image')).sort()))",
      ], { cwd: app.dir, env: toolEnv(), encoding: 'utf8' })) as string[]).filter((name) => name !== '__esModule');
      const cjs = names('commonjs');
      expect(cjs).toEqual(expect.arrayContaining(['ImageFactory', 'ImageStore', 'ImageBuildProject', 'ImageBuildPipeline', 'RecipeSource', 'buildImage', 'createStore']));
      expect(names('module')).toEqual(cjs);
    });

    test('the commands run from the installed package: npx create_image --help, npx trigger --help', () => {
      const help = (command: string) => execFileSync('npx', [command, '--help'], { cwd: app.dir, env: toolEnv(), encoding: 'utf8' });
      expect(help('create_image')).toMatch(/^Usage: create_image/);
      expect(help('create_image')).toContain('--distribution');
      expect(help('trigger')).toMatch(/^Usage: trigger/);
      expect(help('cleanup_images')).toMatch(/^Usage: cleanup_images/);
    });
  },
);
