// Bundles each command in bin/ into one CommonJS file in dist/, the form that
// `npm run create_image`, the tests, the package's `bin` links and the CodeBuild asset all run.
import { build } from 'esbuild';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import options from './bundle-options.cjs';

const commands = readdirSync('bin')
  .filter((file) => file.endsWith('.ts') && file !== 'app.ts')
  .map((file) => join('bin', file));

await build({ ...options, entryPoints: commands, outdir: 'dist', sourcemap: 'linked' });
