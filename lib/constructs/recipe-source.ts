import { cpSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Architecture } from '../core/architecture';
import { Catalog, DirectoryCatalog, bundledRecipesDir } from '../recipes/catalog';
import { RosdistroCatalog } from '../recipes/rosdistro';
import { BuildType } from '../recipes/schema';

/** What the factory needs to know about one recipe at synth time. */
export interface RecipeSummary {
  readonly name: string;
  readonly buildType: BuildType;
  /** The distributions the recipe allows (its os_versions). */
  readonly distributions: string[];
  /** The CPU architectures the recipe allows (its `architectures`); the factory makes a project for each. @default ['amd64'] */
  readonly architectures?: Architecture[];
  /** The recipe's own bundle_flavour, if it sets one. @default none */
  readonly bundleFlavour?: string;
  /** Environment variables the recipe reads a secret from (its user's `password: {env: ...}`). @default none */
  readonly secretVariables?: string[];
  /** The recipe runs an ansible playbook (the build host then needs ansible). @default false */
  readonly usesAnsible?: boolean;
  /** The registry repository docker images are pushed to (recipe docker.repository). @default the organization */
  readonly dockerRepository?: string;
}

/**
 * Where the factory's recipes come from. The catalog is read at synth time (names,
 * build types, os_versions) and shipped inside the builder asset, so CodeBuild builds
 * from exactly what was synthesized.
 */
export abstract class RecipeSource {
  /** The recipes bundled with tailor-image (recipes/). */
  static bundled(): RecipeSource {
    return new BundledSource();
  }

  /** A catalog directory (common.yaml, images/, templates/, playbooks/). */
  static directory(path: string): RecipeSource {
    return new DirectorySource(resolve(path));
  }

  /** A tailor rosdistro (config/images.yaml and config/recipes.yaml). */
  static rosdistro(path: string): RecipeSource {
    return new RosdistroSource(resolve(path));
  }

  /** Says where the recipes come from, for messages and asset cache keys. */
  abstract readonly source: string;

  abstract catalog(): Catalog;

  /**
   * Copies what the builder needs into the asset folder, beside the bundled builder
   * (whose own recipes/ folder, with the templates, is always copied).
   */
  abstract stage(assetDir: string): void;

  /** Extra create_image / cleanup_images arguments that select this catalog. */
  abstract readonly cliArguments: string[];

  /** Every recipe with its build type and allowed distributions, sorted by name. */
  summaries(): RecipeSummary[] {
    const catalog = this.catalog();
    return catalog.names().map((name) => {
      const recipe = catalog.recipe(name);
      const secret = recipe.user?.password?.env;
      return {
        name,
        buildType: recipe.build_type,
        distributions: [...recipe.os_versions],
        architectures: [...recipe.architectures],
        bundleFlavour: recipe.bundle_flavour,
        secretVariables: secret ? [secret] : [],
        usesAnsible: recipe.ansible !== undefined,
        dockerRepository: recipe.build_type === 'docker' ? recipe.docker.repository : undefined,
      };
    });
  }
}

class BundledSource extends RecipeSource {
  readonly source = 'bundled';
  readonly cliArguments: string[] = [];
  catalog(): Catalog {
    return new DirectoryCatalog(bundledRecipesDir());
  }
  stage(): void {
    // The bundled recipes are always staged.
  }
}

/** The folder (relative to the asset root) a custom catalog is staged into. */
export const CATALOG_ASSET_DIR = 'catalog';
/** The folder (relative to the asset root) a rosdistro is staged into. */
export const ROSDISTRO_ASSET_DIR = 'rosdistro';

class DirectorySource extends RecipeSource {
  readonly cliArguments = ['--recipes-path', CATALOG_ASSET_DIR];
  constructor(readonly source: string) {
    super();
  }
  catalog(): Catalog {
    return new DirectoryCatalog(this.source);
  }
  stage(assetDir: string): void {
    // Templates it lacks come from the asset's recipes/ folder, as they do locally.
    cpSync(this.source, join(assetDir, CATALOG_ASSET_DIR), { recursive: true, dereference: true, filter: notGit });
  }
}

class RosdistroSource extends RecipeSource {
  readonly cliArguments = ['--rosdistro-path', ROSDISTRO_ASSET_DIR];
  constructor(readonly source: string) {
    super();
  }
  catalog(): Catalog {
    return new RosdistroCatalog(this.source);
  }
  stage(assetDir: string): void {
    cpSync(this.source, join(assetDir, ROSDISTRO_ASSET_DIR), {
      recursive: true,
      dereference: true,
      filter: notGit,
    });
  }
}

function notGit(path: string): boolean {
  return !path.split(/[\\/]/).includes('.git');
}
