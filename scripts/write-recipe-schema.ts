// Writes recipes/recipe.schema.json from the zod schema, for editors (yaml-language-server).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { recipeJsonSchema } from '../lib/recipes/json-schema';

const target = join(__dirname, '..', 'recipes', 'recipe.schema.json');
writeFileSync(target, recipeJsonSchema());
console.log(`wrote ${target}`);
