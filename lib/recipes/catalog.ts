import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from '../core/errors';
import { quote } from '../core/message-text';
import {
  CommonConfig, CommonConfigSchema, Recipe, RecipeSchema, Template, TemplateSchema, describeIssues,
  BuildType, BUILD_TYPES,
} from './schema';
import { readYamlFile } from './yaml-file';

/** Where recipes come from: the bundled catalog, a directory of the same layout, or a rosdistro. */
export interface Catalog {
  /** Says where the catalog was read from, for messages. */
  readonly source: string;
  readonly common: CommonConfig;
  names(): string[];
  /** The named recipe, schema-checked and merged over its build type's template. */
  recipe(name: string): Recipe;
}

/**
 * A catalog directory:
 *   common.yaml              organisation defaults (`common:` like a rosdistro's recipes.yaml)
 *   images/<name>.yaml       one recipe per image
 *   templates/<type>.yaml    the base every recipe of that build type starts from
 *   playbooks/               ansible playbooks the recipes name
 */
export class DirectoryCatalog implements Catalog {
  readonly source: string;
  readonly common: CommonConfig;

  constructor(readonly dir: string) {
    this.source = dir;
    if (!existsSync(join(dir, 'images'))) {
      throw new UsageError(`${dir} is not a recipe catalog (it has no images/ folder)`);
    }
    this.common = readCommon(join(dir, 'common.yaml'));
  }

  names(): string[] {
    return readdirSync(join(this.dir, 'images'))
      .filter((file) => file.endsWith('.yaml') || file.endsWith('.yml'))
      .map((file) => file.replace(/\.ya?ml$/, ''))
      .sort();
  }

  recipe(name: string): Recipe {
    const file = ['yaml', 'yml'].map((ext) => join(this.dir, 'images', `${name}.${ext}`)).find(existsSync);
    if (!file) throw unknownImage(name, this.names(), this.source);
    return parseRecipe(name, readYamlFile(file), file, this.dir, (type) => loadTemplate(this.dir, type));
  }
}

export function unknownImage(name: string, known: string[], source: string): UsageError {
  return new UsageError(`unknown image ${quote(name)} in ${source} (known: ${known.join(', ') || 'none'})`);
}

export function readCommon(path: string): CommonConfig {
  if (!existsSync(path)) return CommonConfigSchema.parse({});
  const raw = readYamlFile(path);
  const common = raw && typeof raw === 'object' && 'common' in raw ? (raw as { common: unknown }).common : raw;
  const parsed = CommonConfigSchema.safeParse(common ?? {});
  if (!parsed.success) throw new UsageError(`${path}: invalid common settings: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** Templates are bundled with the builder and shared by every catalog. */
export function loadTemplate(catalogDir: string, buildType: BuildType): Template {
  const local = join(catalogDir, 'templates', `${buildType}.yaml`);
  const path = existsSync(local) ? local : join(bundledRecipesDir(), 'templates', `${buildType}.yaml`);
  if (!existsSync(path)) return {};
  const parsed = TemplateSchema.safeParse(readYamlFile(path) ?? {});
  if (!parsed.success) throw new UsageError(`${path}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** Validates a recipe document and lays it over its template. */
export function parseRecipe(
  name: string,
  document: unknown,
  origin: string,
  baseDir: string,
  templateFor: (type: BuildType) => Template,
): Recipe {
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new UsageError(`${origin}: a recipe must be a mapping of fields`);
  }
  const draft = document as Record<string, unknown>;
  // A file that is no recipe at all (a path pointing at some other file) is named, never shown.
  const keys = Object.keys(draft);
  if (keys.length > 0 && !keys.some((key) => Object.hasOwn(RecipeSchema.shape, key))) {
    throw new UsageError(
      `${origin} is not a recipe: none of its ${keys.length} top-level key${keys.length > 1 ? 's is a recipe field' : ' is a recipe field'} (build_type, os_versions, packages...)`,
    );
  }
  // Check the recipe's own fields first, so errors point into the recipe as written.
  const own = RecipeSchema.partial().safeParse(draft);
  if (!own.success) throw new UsageError(`recipe "${name}" (${origin}) is invalid: ${describeIssues(own.error)}`);
  const buildType = draft.build_type;
  const template =
    typeof buildType === 'string' && (BUILD_TYPES as readonly string[]).includes(buildType)
      ? templateFor(buildType as BuildType)
      : {};
  const merged = mergeTemplate(template, draft);
  const parsed = RecipeSchema.safeParse(merged);
  if (!parsed.success) throw new UsageError(`recipe "${name}" (${origin}) is invalid: ${describeIssues(parsed.error)}`);
  return { ...parsed.data, name, origin, baseDir };
}

/** Lists concatenate (template first), mappings merge, scalars from the recipe win. */
function mergeTemplate(template: Template, recipe: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...template };
  for (const [key, value] of Object.entries(recipe)) {
    const base = merged[key];
    if (Array.isArray(base) && Array.isArray(value)) merged[key] = [...base, ...value.filter((v) => !base.includes(v))];
    else if (isPlainObject(base) && isPlainObject(value)) merged[key] = { ...base, ...value };
    else merged[key] = value;
  }
  return merged;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The recipes/ folder shipped beside the builder (found upwards from this file or the bundle). */
export function bundledRecipesDir(): string {
  const fromEnv = process.env.TAILOR_IMAGE_RECIPES_DIR;
  if (fromEnv) return resolve(fromEnv);
  let dir = __dirname;
  for (;;) {
    const candidate = join(dir, 'recipes');
    if (existsSync(join(candidate, 'common.yaml'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new UsageError('the bundled recipes/ folder was not found beside the builder');
    dir = parent;
  }
}
