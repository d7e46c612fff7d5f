import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';

/**
 * Bundles test/support/publish-worker.ts into one CommonJS file, so each worker process
 * starts in a fraction of a second (as the bundled commands in dist/ do).
 */
export async function bundlePublishWorker(): Promise<{ file: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'tailor-worker-'));
  const file = join(dir, 'publish-worker.js');
  await build({
    entryPoints: [join(__dirname, 'publish-worker.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    outfile: file,
    logLevel: 'warning',
  });
  return { file, dir };
}
