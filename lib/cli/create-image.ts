import { buildImage } from '../builder/build';
import { BuildRequest } from '../builder/request';
import { createStore } from '../storage/factory';
import { StoredImage } from '../storage/store';
import { CreateImageOptions, createImageCommand } from './create-image-options';
import { runMain } from './main';
import { createProgress, Verbosity } from './progress';
import { resolveRequest } from './resolve-request';
import { buildSummary, printSummary } from './summary';
import packageJson from '../../package.json';

/** `create_image`: parse, resolve, verify, build, store, report. */
export function createImageMain(argv: string[]): Promise<number> {
  let verbose = false;
  return runMain(
    'create_image',
    async (signal) => {
      const command = createImageCommand(packageJson.version);
      command.parse(argv, { from: 'user' });
      const options = command.opts<CreateImageOptions>();
      verbose = Boolean(options.verbose);
      const request = resolveRequest(options);
      const store = createStore(request);
      const verbosity: Verbosity = options.quiet ? 'quiet' : options.verbose ? 'verbose' : 'normal';
      const progress = createProgress(process.stderr, verbosity);
      const started = Date.now();
      try {
        announce(request, store.describe(), options, progress.info.bind(progress));
        let stored: StoredImage | undefined;
        const outcome = await buildImage(request, {
          log: progress,
          signal,
          preflight: [{ name: 'store', verify: () => store.verify() }],
          deliver: async (image) => {
            stored = await store.put(image, progress, signal);
          },
        });
        progress.close();
        const summary = buildSummary(request, outcome, stored!, (Date.now() - started) / 1000);
        printSummary(summary, { json: Boolean(options.json), quiet: verbosity === 'quiet' });
        return 0;
      } finally {
        progress.close();
      }
    },
    { verbose: () => verbose },
  );
}

function announce(request: BuildRequest, storeLine: string, options: CreateImageOptions, info: (m: string) => void) {
  info(`building ${request.imageName} (${request.recipe.build_type}, from ${request.recipe.origin})`);
  const noMode = !options.buildOnly && !options.localStorage && !options.publish;
  info(noMode ? `no storage mode given, so ${storeLine}` : storeLine);
}
