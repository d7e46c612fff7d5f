// `npm run build` (and `prepack`, so `npm pack` and `npm publish` ship a fresh build): from
// an empty dist/, the library compiled by tsc with its declarations (tsconfig.build.json:
// dist/index.js and what it reaches, which `import ... from 'tailor-image'` loads), then the
// command bundles (dist/<command>.js: the `bin` links and the builder the CDK asset carries).
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
process.chdir(new URL('..', import.meta.url).pathname);
rmSync('dist', { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
await import('./bundle.mjs');
