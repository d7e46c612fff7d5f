/**
 * The org bundle flavour of a recipe when no --flavour is given: the recipe's
 * bundle_flavour, else the catalog's common flavour, else the recipe's name. The local
 * runner and the factory (which passes the result as FLAVOUR) both take it from here, so
 * one recipe gets the same bundle in both places.
 */
export function bundleFlavour(recipe: { name: string; bundle_flavour?: string }, commonFlavour?: string): string {
  return recipe.bundle_flavour ?? commonFlavour ?? recipe.name;
}
