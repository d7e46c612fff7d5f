// Bundles each command in bin/ into one CommonJS file in dist/, the form that
// `npm run create_image`, the tests and the CodeBuild asset all run.
import { build } from 'esbuild';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const commands = readdirSync('bin')
  .filter((file) => file.endsWith('.ts') && file !== 'app.ts')
  .map((file) => join('bin', file));

await build({
  entryPoints: commands,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  outdir: 'dist',
  sourcemap: 'linked',
  logLevel: 'warning',
  // CDK code never runs inside the builder.
  external: ['aws-cdk-lib', 'constructs', 'cdk-nag'],
});
