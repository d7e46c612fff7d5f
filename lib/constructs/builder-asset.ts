import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { AssetHashType, DockerImage, ILocalBundling } from 'aws-cdk-lib';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { bundledRecipesDir } from '../recipes/catalog';
import { RecipeSource } from './recipe-source';

/** The commands the asset carries, as `<command>.js` at its root. */
export const BUILDER_COMMANDS = ['create_image', 'cleanup_images'] as const;

/**
 * The builder as CodeBuild runs it: one S3 asset (a zip) holding
 *   create_image.js, cleanup_images.js   the commands, each bundled by esbuild into one CJS file
 *   recipes/                             the bundled recipes and templates
 *   catalog/ or rosdistro/               the factory's own catalog, when it has one
 *
 * Bundling happens at synth time in-process (esbuild's synchronous API through
 * `bundling.local`), so synth needs neither Docker nor a prior `npm run build`. From an
 * installed package without the TypeScript sources, the prebuilt dist/ bundles are used.
 */
export class BuilderAsset extends Construct {
  readonly asset: s3assets.Asset;

  constructor(scope: Construct, id: string, props: { recipes: RecipeSource }) {
    super(scope, id);
    const local = new LocalBuilderBundling(props.recipes);
    this.asset = new s3assets.Asset(this, 'Bundle', {
      // Only hashed when bundling is skipped (a stack not selected for deploy); keep it small.
      path: bundledRecipesDir(),
      assetHashType: AssetHashType.OUTPUT,
      bundling: {
        // Never used: local bundling always succeeds or throws one clear error.
        image: DockerImage.fromRegistry('tailor-image-local-bundling-only'),
        local,
      },
    });
  }
}

/** Finds the tailor-image package root (the folder holding its package.json). */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'tailor-image') return dir;
      } catch {
        // not ours; keep looking
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('tailor-image: cannot find the package root to bundle the builder from');
    dir = parent;
  }
}

/** One esbuild run per process: later synths (tests, the bench) copy its output. */
let bundledOnce: string | undefined;

/** Bundles the builder commands into a private temporary folder and returns it. */
export function bundleBuilder(): string {
  if (bundledOnce && BUILDER_COMMANDS.every((c) => existsSync(join(bundledOnce!, `${c}.js`)))) return bundledOnce;
  const root = packageRoot();
  const out = mkdtempSync(join(tmpdir(), 'tailor-image-builder-'));
  const sources = BUILDER_COMMANDS.map((command) => join(root, 'bin', `${command}.ts`));
  if (sources.every(existsSync)) {
    // Loaded lazily: only synth needs esbuild, never the constructs' consumers at runtime.
    const esbuild = require('esbuild') as typeof import('esbuild');
    esbuild.buildSync({
      entryPoints: sources,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      outdir: out,
      logLevel: 'error',
      external: ['aws-cdk-lib', 'constructs', 'cdk-nag'],
      absWorkingDir: root,
    });
  } else {
    for (const command of BUILDER_COMMANDS) {
      const prebuilt = join(root, 'dist', `${command}.js`);
      if (!existsSync(prebuilt)) {
        throw new Error(`tailor-image: neither bin/${command}.ts nor dist/${command}.js exists; cannot bundle the builder`);
      }
      cpSync(prebuilt, join(out, `${command}.js`));
    }
  }
  bundledOnce = out;
  return out;
}

class LocalBuilderBundling implements ILocalBundling {
  /** Part of the asset cache key: a different catalog is a different asset. */
  readonly recipeSource: string;

  constructor(private readonly recipes: RecipeSource) {
    this.recipeSource = recipes.source;
  }

  tryBundle(outputDir: string): boolean {
    const bundle = bundleBuilder();
    for (const file of readdirSync(bundle)) cpSync(join(bundle, file), join(outputDir, file), { recursive: true });
    cpSync(bundledRecipesDir(), join(outputDir, 'recipes'), { recursive: true, dereference: true });
    this.recipes.stage(outputDir);
    return true;
  }
}
