import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

// The layering rule (.dependency-cruiser.cjs, docs/ARCHITECTURE.md) checked by
// scripts/depcheck.mjs, the script behind `npm run depcheck`.
const REPO_ROOT = join(__dirname, '..', '..');
const DEPCHECK = join(REPO_ROOT, 'scripts', 'depcheck.mjs');

/** Runs the check in `cwd`: the violations it prints, one a line, and its exit status. */
function depcheck(cwd: string): { status: number | null; violations: string[] } {
  const run = spawnSync(process.execPath, [DEPCHECK], { cwd, encoding: 'utf8' });
  const violations = run.stdout.split('\n').filter((line) => line.trim() !== '');
  if (run.status !== 0 && violations.length === 0) {
    throw new Error(`depcheck failed without reporting a violation (status ${run.status}): ${run.stderr}`);
  }
  return { status: run.status, violations };
}

describe('layering', () => {
  test('lib/ and bin/ import only along the layers, without circles', () => {
    expect(depcheck(REPO_ROOT)).toEqual({ status: 0, violations: [] });
  });

  describe('the check itself', () => {
    let root: string;
    beforeAll(() => {
      root = mkdtempSync(join(tmpdir(), 'tailor-image-layering-'));
    });
    afterAll(() => rmSync(root, { recursive: true, force: true }));

    const write = (file: string, text: string) => {
      mkdirSync(dirname(join(root, file)), { recursive: true });
      writeFileSync(join(root, file), text);
    };

    test('reports every kind of bad import, type-only ones too, and lets the allowed ones through', () => {
      write('tsconfig.json', JSON.stringify({ compilerOptions: { strict: true }, include: ['**/*.ts'] }));
      // Allowed: down the layers, and lib/index.ts importing anything of lib/.
      write('lib/core/log.ts', `export const log = 1;\n`);
      write('lib/recipes/schema.ts', `import { log } from '../core/log';\nexport const schema = log;\n`);
      write('lib/builder/build.ts', `import { schema } from '../recipes/schema';\nexport const build = schema;\n`);
      write('lib/storage/registry.ts', `export const registry = 1;\n`);
      write('lib/cli/create.ts', `import { build } from '../builder/build';\nimport { registry } from '../storage/registry';\nexport const create = build + registry;\n`);
      write('lib/constructs/factory.ts', `import { schema } from '../recipes/schema';\nexport const factory = schema;\n`);
      write('bin/create.ts', `import { create } from '../lib/cli/create';\nimport { factory } from '../lib/constructs/factory';\nexport const main = create + factory;\n`);
      write('lib/index.ts', `export { build } from './builder/build';\nexport { create } from './cli/create';\nexport { factory } from './constructs/factory';\n`);
      // Forbidden, one of each kind.
      write('lib/core/naming.ts', `import { schema } from '../recipes/schema';\nexport const naming = schema;\n`);
      write('lib/recipes/catalog.ts', `import { registry } from '../storage/registry';\nexport const catalog = registry;\n`);
      write('lib/storage/store.ts', `import { build } from '../builder/build';\nexport const store = build;\n`);
      write('lib/builder/push.ts', `import { registry } from '../storage/registry';\nexport const push = registry;\n`);
      write('lib/builder/summary.ts', `import { create } from '../cli/create';\nexport const summary = create;\n`);
      write('lib/storage/api.ts', `import { build } from '../index';\nexport const api = build;\n`);
      write('lib/constructs/project.ts', `import { build } from '../builder/build';\nexport const project = build;\n`);
      write('lib/cli/deploy.ts', `import { factory } from '../constructs/factory';\nexport const deploy = factory;\n`);
      write('bin/store.ts', `import { store } from '../lib/storage/store';\nexport const main = store;\n`);
      write('lib/cli/rerun.ts', `import { main } from '../../bin/create';\nexport const rerun = main;\n`);
      write('lib/core/fixture.ts', `import { sample } from '../../test/support/sample';\nexport const fixture = sample;\n`);
      write('test/support/sample.ts', `export const sample = 1;\n`);
      // A stage importing another stage, for a type only (TypeScript drops the import).
      write('lib/builder/stages/pack.ts', `export interface PackInput { file: string }\n`);
      write('lib/builder/stages/provision.ts', `import { PackInput } from './pack';\nexport const input: PackInput = { file: 'x' };\n`);
      // A circle.
      write('lib/core/exec.ts', `import { digest } from './digest';\nexport const exec = () => digest;\n`);
      write('lib/core/digest.ts', `import { exec } from './exec';\nexport const digest = () => exec;\n`);

      const { status, violations } = depcheck(root);
      expect(violations.sort()).toEqual(
        [
          'bin/store.ts → lib/storage/store.ts  [bin-only-cli-constructs]',
          'lib/builder/push.ts → lib/storage/registry.ts  [builder-imports-storage]',
          'lib/builder/stages/provision.ts → lib/builder/stages/pack.ts  [stage-imports-stage]',
          'lib/builder/summary.ts → lib/cli/create.ts  [builder-only-down]',
          'lib/cli/deploy.ts → lib/constructs/factory.ts  [cli-only-down]',
          'lib/cli/rerun.ts → bin/create.ts  [lib-imports-bin]',
          'lib/constructs/project.ts → lib/builder/build.ts  [constructs-only-down]',
          'lib/core/digest.ts → lib/core/exec.ts  [no-circular]  circle: lib/core/digest.ts → lib/core/exec.ts → lib/core/digest.ts',
          'lib/core/fixture.ts → test/support/sample.ts  [production-imports-test-or-bench]',
          'lib/core/naming.ts → lib/recipes/schema.ts  [core-only-core]',
          'lib/recipes/catalog.ts → lib/storage/registry.ts  [recipes-only-core]',
          'lib/storage/api.ts → lib/index.ts  [storage-only-down]',
          'lib/storage/store.ts → lib/builder/build.ts  [storage-imports-builder]',
        ].sort(),
      );
      expect(status).toBe(1);
    });
  });
});
