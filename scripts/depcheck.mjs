#!/usr/bin/env node
// The layering check: runs dependency-cruiser with the rules in .dependency-cruiser.cjs on
// lib/ and bin/ of the current directory and prints each violation on one line,
// "from → to  [rule]" (a circle adds its whole path). Exit 0 when there is none, 1 otherwise.
//
// Through the API rather than the depcruise command: that command refuses Node 20 (where
// the suite runs), the API works there.
import { cruise } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RULES = join(dirname(fileURLToPath(import.meta.url)), '..', '.dependency-cruiser.cjs');
const ROOTS = ['lib', 'bin'].filter((root) => existsSync(root));

function lineOf(violation) {
  const line = `${violation.from} → ${violation.to}  [${violation.rule.name}]`;
  if (!violation.cycle?.length) return line;
  const circle = [violation.from, ...violation.cycle.map((step) => step.name)].join(' → ');
  return `${line}  circle: ${circle}`;
}

const options = await extractDepcruiseOptions(RULES);
const tsConfig = existsSync('tsconfig.json') ? extractTSConfig('tsconfig.json') : undefined;
const result = await cruise(ROOTS, { ...options, validate: true }, undefined, { tsConfig });
const { violations, totalCruised } = result.output.summary;
for (const violation of violations) console.log(lineOf(violation));
console.error(
  `depcheck: ${violations.length} layering violation(s) in ${totalCruised} modules of ${ROOTS.join(', ')}`,
);
process.exit(violations.length > 0 ? 1 : 0);
