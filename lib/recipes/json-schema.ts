import { z } from 'zod';
import { RecipeSchema } from './schema';

/** The recipe schema as JSON Schema text (what recipes/recipe.schema.json holds). */
export function recipeJsonSchema(): string {
  const schema = z.toJSONSchema(RecipeSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  const document = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'tailor-image recipe',
    description: 'One image of the catalog (recipes/images/<name>.yaml), laid over recipes/templates/<build_type>.yaml.',
    ...Object.fromEntries(Object.entries(schema).filter(([key]) => key !== '$schema')),
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}
