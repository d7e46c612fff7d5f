// One synth, as `cdk synth` runs the app: `node --import tsx bench/synth-app.ts <empty|factory> <outdir> [catalog]`.
// The factory app has the cdk-nag plugin; so has the empty one, so only the factory differs.
import { App, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ImageFactory, RecipeSource } from '../lib/constructs';

const [mode, outdir, catalog] = process.argv.slice(2);
const app = new App({ outdir });
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
const stack = new Stack(app, 'Bench', { env: { account: '123456789012', region: 'eu-west-1' } });
if (mode === 'factory') {
  const factory = new ImageFactory(stack, 'Factory', { recipes: RecipeSource.directory(catalog) });
  if (factory.pipeline.builds.length !== 30) throw new Error(`expected 30 builds, got ${factory.pipeline.builds.length}`);
}
app.synth();
