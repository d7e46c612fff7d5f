import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { UsageError } from '../core/errors';
import { Recipe } from './schema';

/**
 * The host file a recipe names for the image (a `files[].source`, the ansible playbook,
 * `org_repo.key`): a relative path is taken from the recipe's catalog folder (its
 * baseDir), and the file, links followed, must lie inside that folder or inside one of
 * `allowedDirs` (create_image --allow-source-dir). So a recipe cannot copy /etc/shadow or
 * any other host file into an image. Returns the real path; a UsageError otherwise.
 */
export function recipeSourcePath(
  recipe: Pick<Recipe, 'name' | 'baseDir'>,
  path: string,
  what: string,
  allowedDirs: readonly string[] = [],
): string {
  const named = isAbsolute(path) ? path : join(recipe.baseDir, path);
  let real: string;
  try {
    real = realpathSync(named);
  } catch {
    throw new UsageError(`recipe "${recipe.name}": ${what} ${named} does not exist`);
  }
  if (!statSync(real).isFile()) throw new UsageError(`recipe "${recipe.name}": ${what} ${named} is not a file`);
  const folders = [recipe.baseDir, ...allowedDirs].map((dir) => realOrUndefined(dir)).filter((dir) => dir !== undefined);
  if (!folders.some((folder) => isInside(real, folder))) {
    throw new UsageError(
      `recipe "${recipe.name}": ${what} ${named} is outside the catalog folder ${recipe.baseDir} ` +
        '(allow its folder with --allow-source-dir)',
    );
  }
  return real;
}

function isInside(path: string, folder: string): boolean {
  const rel = relative(folder, path);
  return rel !== '' && rel !== '..' && !rel.startsWith('../') && !isAbsolute(rel);
}

function realOrUndefined(dir: string): string | undefined {
  try {
    return realpathSync(dir);
  } catch {
    return undefined;
  }
}
