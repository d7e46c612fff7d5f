/**
 * tailor-image's public API: the builder (one recipe + one distribution → an image), the
 * recipe catalogs, the image stores, and the CDK constructs that deploy the factory.
 */

// Errors and their exit codes.
export { UsageError, BuildError, InterruptedError, exitCodeOf } from './core/errors';

// Recipes: the schema, the bundled catalog, a folder catalog, a tailor rosdistro.
export { RecipeSchema, CommonConfigSchema, BUILD_TYPES } from './recipes/schema';
export type { Recipe, BuildType, CommonConfig, PasswordSource } from './recipes/schema';
export { DirectoryCatalog, bundledRecipesDir } from './recipes/catalog';
export type { Catalog } from './recipes/catalog';
export { RosdistroCatalog } from './recipes/rosdistro';
export { recipeJsonSchema } from './recipes/json-schema';

// The builder.
export { buildImage, buildImages, packageSet, STAGES } from './builder/build';
export type { BuildOptions, BuildOutcome, StageTimings } from './builder/build';
export type { BuildRequest } from './builder/request';
export type { StorageRequest } from './storage/request';
export type { Artifact, BuiltImage } from './core/image';
export type { BuildLog } from './core/log';
export { silentLog } from './core/log';
export { DISTRIBUTIONS, distribution } from './core/distributions';
export type { Distribution } from './core/distributions';
export { imageName, parseImageName, formatTimestamp, checkTimestamp, bundlePackageName } from './core/naming';
export { packerFor } from './builder/packers';
export type { Packer, PackInput, PackedFile } from './builder/packers/packer';

// Bare-metal disks (GPT, GRUB for UEFI and BIOS, assembled without loop devices).
export { bareMetalPacker } from './builder/packers/disk';

// Container images: the OCI packer and the registry push (skopeo; ECR tokens from the AWS SDK).
export { ociPacker, buildOciLayout, referenceFor, imageTag, parseRegistry } from './builder/packers/oci';
export {
  pushImage, pushBuiltImage, loadIntoDocker, registryAuth, ecrHost, REGISTRY_USERNAME_ENV, REGISTRY_PASSWORD_ENV,
} from './storage/registry/push';

// Flags → request, as create_image does it.
export { resolveRequest, resolveRequests, resolveRun } from './cli/resolve-request';

// Stores: where create_image puts what it built. The interface is exported as
// ImageStoreBackend because ImageStore, in this API, is the construct (bucket + CloudFront).
export type { ImageStore as ImageStoreBackend, PlannedImage, StoredImage, StoredFile } from './storage/store';
export { createStore } from './storage/create-store';
export { BuildOnlyStore } from './storage/local/build-only-store';
export { LocalStore } from './storage/local/local-store';
export { updateLocalIndex, readLocalIndex } from './storage/local/local-index';
export { entryFor, withEntry, withoutEntry, listEntries, parseIndex, serializeIndex } from './storage/indexes/tailor-index';
export type { TailorIndex, IndexEntry, IndexSlot } from './storage/indexes/tailor-index';

// Publishing to S3 (+ CloudFront), and retention cleanup of S3 and local stores.
export { S3ImageStore, createS3Store } from './storage/s3/s3-store';
export { S3IndexWriter } from './storage/s3/s3-index';
export { cleanupS3 } from './storage/s3/s3-cleanup';
export { cleanupLocal } from './storage/local/local-cleanup';
export { expiredEntries } from './storage/retention/retention';
export type { CleanupReport } from './storage/retention/cleanup-report';

// The image server: simplestreams indexes beside the tailor index, and a static HTTPS server.
export { buildStreamFiles, streamFilesFromIndexes, streamImagesFromIndex } from './storage/indexes/simplestreams';
export type { StreamImage, StreamFile } from './storage/indexes/simplestreams';
export { rewriteLocalStreams } from './storage/local/local-streams';
export { rewriteBucketStreams } from './storage/s3/bucket-streams';
export { createFileServer } from './storage/local/file-server';

// The CDK constructs that deploy the factory (ImageFactory, ImageStore, ImageBuildProject, ImageBuildPipeline...).
export * from './constructs';
