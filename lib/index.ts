/**
 * tailor-image's public API: the builder (one recipe + one distribution → an image), the
 * recipe catalogs, the image stores, and the CDK constructs that deploy the factory.
 */

// Errors and their exit codes.
export { UsageError, BuildError, InterruptedError, exitCodeOf } from './errors';

// Recipes: the schema, the bundled catalog, a folder catalog, a tailor rosdistro.
export { RecipeSchema, CommonConfigSchema, BUILD_TYPES } from './recipes/schema';
export type { Recipe, BuildType, CommonConfig, PasswordSource } from './recipes/schema';
export { DirectoryCatalog, bundledRecipesDir } from './recipes/catalog';
export type { Catalog } from './recipes/catalog';
export { RosdistroCatalog } from './recipes/rosdistro';
export { recipeJsonSchema } from './recipes/json-schema';

// The builder.
export { buildImage, packageSet, STAGES } from './builder/build';
export type { BuildOptions, BuildOutcome, StageTimings } from './builder/build';
export type { BuildRequest, StorageRequest } from './builder/request';
export type { Artifact, BuiltImage } from './builder/artifacts';
export type { BuildLog } from './builder/log';
export { silentLog } from './builder/log';
export { DISTRIBUTIONS, distribution } from './builder/distributions';
export type { Distribution } from './builder/distributions';
export { imageName, parseImageName, formatTimestamp, checkTimestamp, bundlePackageName } from './builder/naming';
export { packerFor } from './builder/packers';
export type { Packer, PackInput, PackedFile } from './builder/packers/packer';

// Flags → request, as create_image does it.
export { resolveRequest } from './cli/resolve-request';

// Stores.
export type { ImageStore, StoredImage, StoredFile } from './storage/store';
export { createStore } from './storage/factory';
export { BuildOnlyStore } from './storage/build-only-store';
export { LocalStore } from './storage/local-store';
export { updateLocalIndex, readLocalIndex } from './storage/local-index';
export { entryFor, withEntry, withoutEntry, listEntries, parseIndex, serializeIndex } from './storage/tailor-index';
export type { TailorIndex, IndexEntry, IndexSlot } from './storage/tailor-index';

// The CDK constructs that deploy the factory (ImageFactory, ImageStore, ImageBuildProject, ImageBuildPipeline...).
export * from './constructs';
