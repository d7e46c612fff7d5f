// One synth, as `cdk synth` runs an app: `node synth-app.cjs <empty|factory> <outdir> [catalog]`,
// run by bench/synth.ts from a CDK app where tailor-image is installed from its tarball. The
// empty app has the cdk-nag plugin too, so only the factory differs.
const { App, Stack, Validations } = require('aws-cdk-lib');
const { AwsSolutionsChecks } = require('cdk-nag');

const [mode, outdir, catalog] = process.argv.slice(2);
const app = new App({ outdir });
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
const stack = new Stack(app, 'Bench', { env: { account: '123456789012', region: 'eu-west-1' } });
if (mode === 'factory') {
  const { ImageFactory, RecipeSource } = require('tailor-image');
  const factory = new ImageFactory(stack, 'Factory', { recipes: RecipeSource.directory(catalog) });
  if (factory.pipeline.builds.length !== 30) throw new Error(`expected 30 builds, got ${factory.pipeline.builds.length}`);
}
app.synth();
