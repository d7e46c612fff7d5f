/**
 * The layering rule, enforced (docs/ARCHITECTURE.md, "Dependencies"). Run it with
 * `npm run depcheck`; test/unit/layering.test.ts runs the same check in the suite.
 *
 * Layers, top to bottom:  bin/ → lib/cli/ → lib/builder/ | lib/storage/ | lib/constructs/
 *                         → lib/recipes/ → lib/core/
 * A layer imports itself and the layers below it, never one above it; the three in the
 * middle never import each other. lib/index.ts (the public API) may import anything in lib/.
 * Type-only imports count (tsPreCompilationDeps).
 */

/** The production code (npm packages and node: built-ins are free to import). */
const PROJECT = '^(bin|lib)/';

/** A rule: nothing whose path matches `from` may import what `to` describes. */
function forbid(name, comment, from, to) {
  return { name, comment, severity: 'error', from: { path: from }, to };
}

/** A layer's rule: `from` may import project code only from the folders in `allowed` (regexes). */
function layer(name, comment, from, allowed, reportedElsewhere = []) {
  return forbid(name, comment, from, { path: '^lib/', pathNot: [...allowed, ...reportedElsewhere] });
}

module.exports = {
  forbidden: [
    forbid(
      'no-circular',
      'A circle of imports: the modules in it cannot be understood (or tested) one at a time.',
      PROJECT,
      { circular: true },
    ),
    forbid(
      'stage-imports-stage',
      'Stages in lib/builder/stages never import each other: what two stages share belongs in a module of lib/builder.',
      '^lib/builder/stages/',
      { path: '^lib/builder/stages/' },
    ),
    forbid('production-imports-test-or-bench', 'lib/ and bin/ never import test/ or bench/.', PROJECT, {
      path: '^(test|bench)/',
    }),
    forbid('lib-imports-bin', 'bin/ holds entry points only; nothing in lib/ imports them.', '^lib/', { path: '^bin/' }),
    layer(
      'bin-only-cli-constructs',
      'bin/ entry points stay thin: they import lib/cli/ (and the CDK app lib/constructs/), nothing else of lib/.',
      '^bin/',
      ['^lib/cli/', '^lib/constructs/'],
    ),
    layer(
      'cli-only-down',
      'lib/cli/ joins builder and storage: it imports lib/cli, lib/builder, lib/storage, lib/recipes, lib/core (not lib/constructs, not lib/index.ts).',
      '^lib/cli/',
      ['^lib/(cli|builder|storage|recipes|core)/'],
    ),
    // builder and storage never import each other (what both need belongs in lib/core).
    forbid('builder-imports-storage', 'lib/builder never imports lib/storage.', '^lib/builder/', { path: '^lib/storage/' }),
    forbid('storage-imports-builder', 'lib/storage never imports lib/builder.', '^lib/storage/', { path: '^lib/builder/' }),
    layer(
      'builder-only-down',
      'lib/builder imports only lib/builder, lib/recipes and lib/core.',
      '^lib/builder/',
      ['^lib/(builder|recipes|core)/'],
      ['^lib/storage/'],
    ),
    layer(
      'storage-only-down',
      'lib/storage imports only lib/storage, lib/recipes and lib/core.',
      '^lib/storage/',
      ['^lib/(storage|recipes|core)/'],
      ['^lib/builder/'],
    ),
    layer(
      'constructs-only-down',
      'lib/constructs imports only lib/constructs, lib/recipes and lib/core: it ships the builder as a bundled asset, never imports it or the storage code.',
      '^lib/constructs/',
      ['^lib/(constructs|recipes|core)/'],
    ),
    layer('recipes-only-core', 'lib/recipes stands on lib/core only.', '^lib/recipes/', ['^lib/(recipes|core)/']),
    layer(
      'core-only-core',
      'lib/core is the bottom: it imports nothing of lib/ outside lib/core.',
      '^lib/core/',
      ['^lib/core/'],
    ),
  ],
  options: {
    // test/ and bench/ are shown when production code imports them, but not followed.
    doNotFollow: { path: ['node_modules', '^(test|bench)/'] },
    tsConfig: { fileName: 'tsconfig.json' },
    // Count imports that only carry types (TypeScript removes them when compiling).
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      extensions: ['.ts', '.js', '.json'],
    },
  },
};
