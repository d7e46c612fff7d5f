import { cpSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
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
 * Staged at synth in-process through `bundling.local`, so synth never needs Docker. The
 * installed package (compiled JavaScript in dist/lib) copies the command bundles that
 * `npm pack` built into its dist/: a consumer's synth needs neither esbuild nor the
 * TypeScript sources, and the asset hash is the same for every consumer of one version
 * and catalog. From a checkout's TypeScript sources (tsx, ts-jest), esbuild (a
 * devDependency there) bundles bin/ afresh, so synth never ships a stale dist/.
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

/** True when this module runs from the TypeScript sources rather than the compiled package. */
const FROM_SOURCES = __filename.endsWith('.ts');

/** One esbuild run per process: later synths (tests, the bench) copy its output. */
let bundledOnce: string | undefined;

/** The folder holding `<command>.js` for each of BUILDER_COMMANDS, to copy into the asset. */
export function builderBundleDir(): string {
  const root = packageRoot();
  if (!FROM_SOURCES) {
    const dist = join(root, 'dist');
    const absent = BUILDER_COMMANDS.filter((command) => !existsSync(join(dist, `${command}.js`)));
    if (absent.length) {
      throw new Error(`tailor-image: the package has no prebuilt ${absent.map((c) => `dist/${c}.js`).join(', ')} (run "npm run build" before packing it)`);
    }
    return dist;
  }
  if (bundledOnce && BUILDER_COMMANDS.every((c) => existsSync(join(bundledOnce!, `${c}.js`)))) return bundledOnce;
  const out = mkdtempSync(join(tmpdir(), 'tailor-image-builder-'));
  // Only a checkout gets here: its own esbuild (a devDependency) and the options
  // scripts/bundle.mjs uses. The package's consumers never load esbuild.
  const fromRoot = createRequire(join(root, 'package.json'));
  const esbuild = fromRoot('esbuild') as typeof import('esbuild');
  const options = fromRoot('./scripts/bundle-options.cjs') as import('esbuild').BuildOptions;
  esbuild.buildSync({
    ...options,
    entryPoints: BUILDER_COMMANDS.map((command) => join(root, 'bin', `${command}.ts`)),
    outdir: out,
    logLevel: 'error',
    absWorkingDir: root,
  });
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
    const bundles = builderBundleDir();
    for (const command of BUILDER_COMMANDS) cpSync(join(bundles, `${command}.js`), join(outputDir, `${command}.js`));
    cpSync(bundledRecipesDir(), join(outputDir, 'recipes'), { recursive: true, dereference: true });
    this.recipes.stage(outputDir);
    return true;
  }
}
