import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { REPO_ROOT } from './cli';

/**
 * tailor-image as a platform team meets it: the tarball `npm pack` makes from a clean
 * checkout, installed into a CDK app of their own outside this repository. Used by
 * test/e2e/consumer-package.test.ts and the synth bench.
 */

export interface Manifest {
  name: string;
  version: string;
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
}

export function repoManifest(): Manifest {
  return JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as Manifest;
}

/** The lowest version a peer range allows (`^2.276.0` → `2.276.0`): what the package is tested against. */
export function peerFloor(name: string, manifest = repoManifest()): string {
  const range = manifest.peerDependencies[name];
  const floor = /^\^(\d+\.\d+\.\d+)$/.exec(range ?? '')?.[1];
  if (!floor) throw new Error(`peerDependencies.${name} is "${range}", not a ^x.y.z range with a floor to test`);
  return floor;
}

/** The environment for npm and the CDK CLI: no npm_* variables of an enclosing `npm test`, offline CDK. */
export function toolEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  return {
    ...env,
    CDK_DISABLE_VERSION_CHECK: '1',
    CDK_DISABLE_CLI_TELEMETRY: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    NODE_PATH: '',
    ...extra,
  };
}

function run(command: string, args: string[], cwd: string, env = toolEnv()): string {
  try {
    return execFileSync(command, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    const tail = `${stdout ?? ''}\n${stderr ?? ''}`.trim().split('\n').slice(-60).join('\n');
    throw new Error(`${command} ${args.join(' ')} (in ${cwd}) failed:\n${tail}`);
  }
}

/**
 * Packs tailor-image as from a clean checkout: the files git would check out now (tracked
 * and new, not ignored; so no dist/) are copied into `<work>/checkout` beside a link to this
 * repository's node_modules (the build's tools: tsc, esbuild), and `npm pack` runs there,
 * its prepack building everything. Returns the tarball's path, in `work`.
 */
export function packCleanCheckout(work: string): string {
  const checkout = join(work, 'checkout');
  const files = run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], REPO_ROOT).split('\0').filter(Boolean);
  for (const file of files) {
    const from = join(REPO_ROOT, file);
    try {
      mkdirSync(dirname(join(checkout, file)), { recursive: true });
      cpSync(from, join(checkout, file), { verbatimSymlinks: true });
    } catch (error) {
      // A tracked file deleted in the work tree is not in a checkout of it either.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(checkout, 'node_modules'));
  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work, '--loglevel=error'], checkout)) as { filename: string }[];
  return join(work, basename(packed[0].filename));
}

export interface ConsumerApp {
  dir: string;
  /** The app's entry point, as cdk init named it (bin/<name>.ts). */
  entry: string;
}

/**
 * A CDK app made as a platform team makes one, in `<work>/<name>`: `cdk init app --language
 * typescript --generate-only` with the pinned CDK CLI (its jest test and jest config
 * removed, so its tsconfig types only node), then one `npm install` of the tarball with
 * aws-cdk-lib and constructs at the package's peer floors and the repository's pinned
 * cdk-nag, aws-cdk, typescript, ts-node, tsx and @types/node; npm's cache is reused.
 */
export function createConsumerApp(work: string, tarball: string, name = 'platform-images'): ConsumerApp {
  const manifest = repoManifest();
  const dir = join(work, name);
  mkdirSync(dir);
  run(process.execPath, [join(REPO_ROOT, 'node_modules', 'aws-cdk', 'bin', 'cdk'), 'init', 'app', '--language', 'typescript', '--generate-only'], dir);
  rmSync(join(dir, 'test'), { recursive: true, force: true });
  rmSync(join(dir, 'jest.config.js'), { force: true });
  const tsconfigPath = join(dir, 'tsconfig.json');
  const tsconfig = JSON.parse(readFileSync(tsconfigPath, 'utf8')) as { compilerOptions: { types?: string[] } };
  tsconfig.compilerOptions.types = (tsconfig.compilerOptions.types ?? []).filter((t) => t !== 'jest');
  writeFileSync(tsconfigPath, `${JSON.stringify(tsconfig, null, 2)}\n`);

  const packagePath = join(dir, 'package.json');
  const app = JSON.parse(readFileSync(packagePath, 'utf8')) as Record<string, unknown>;
  const pinned = (pkg: string) => {
    const version = manifest.devDependencies[pkg];
    if (!version) throw new Error(`${pkg} is not a devDependency of tailor-image`);
    return version;
  };
  app.dependencies = {
    'aws-cdk-lib': peerFloor('aws-cdk-lib', manifest),
    constructs: peerFloor('constructs', manifest),
    'cdk-nag': pinned('cdk-nag'),
    [manifest.name]: `file:${tarball}`,
  };
  app.devDependencies = Object.fromEntries(['aws-cdk', 'typescript', 'ts-node', 'tsx', '@types/node'].map((pkg) => [pkg, pinned(pkg)]));
  writeFileSync(packagePath, `${JSON.stringify(app, null, 2)}\n`);
  run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], dir);
  return { dir, entry: join(dir, 'bin', `${name}.ts`) };
}

/** Runs an app's local tool (node_modules/.bin/<tool>) in the app, as `npx <tool>` does there. */
export function appTool(app: ConsumerApp, tool: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  return run(join(app.dir, 'node_modules', '.bin', tool), args, app.dir, toolEnv(env));
}
