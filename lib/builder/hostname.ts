import { Recipe } from '../recipes/schema';

/** The image's host name: the recipe's, else its name made fit for a host name. */
export function hostnameOf(recipe: Recipe): string {
  return recipe.hostname ?? recipe.name.toLowerCase().replace(/[^a-z0-9-]/g, '-');
}
