/**
 * How a deployed factory's resources say whose they are (set by lib/constructs, read by
 * `trigger`): every resource carries FACTORY_TAG = the factory's name, each build project
 * IMAGE_TAG = its recipe.
 */
export const FACTORY_TAG = 'tailor-image:factory';
export const IMAGE_TAG = 'tailor-image:image';

/** The physical names a factory gives its projects and pipeline. */
export function buildProjectName(factory: string, image: string): string {
  return `${factory}-${image}`;
}

export function cleanupProjectName(factory: string): string {
  return `${factory}_cleanup`;
}

export function pipelineName(factory: string): string {
  return `${factory}-pipeline`;
}
