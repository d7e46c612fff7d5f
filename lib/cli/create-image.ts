import { buildImages } from '../builder/build';
import { BuildRequest } from '../builder/request';
import { imageFileName, packerFor } from '../builder/packers';
import { createStore } from '../storage/create-store';
import { PlannedImage, StoredImage } from '../storage/store';
import { checkWritableFolder } from '../storage/local/folder-check';
import { CreateImageOptions, createImageCommand } from './create-image-options';
import { runMain } from './main';
import { createProgress, Verbosity } from './progress';
import { resolveRun } from './resolve-request';
import { buildSummary, printSummaries } from './summary';
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
      const { requests, storage } = resolveRun(options);
      const store = createStore(storage, requests.map(plannedImage));
      const verbosity: Verbosity = options.quiet ? 'quiet' : options.verbose ? 'verbose' : 'normal';
      const progress = createProgress(process.stderr, verbosity);
      const started = Date.now();
      try {
        announce(requests, store.describe(), options, progress.info.bind(progress));
        for (const warning of requests.flatMap((request) => request.recipe.warnings ?? [])) progress.warn(warning);
        const stored = new Map<string, StoredImage>(); // by image name (one per --name)
        const outcomes = await buildImages(requests, {
          log: progress,
          signal,
          preflight: [{ name: 'store', verify: () => store.verify() }, ...folderChecks(requests[0])],
          deliver: async (image) => {
            stored.set(image.imageName, await store.put(image, progress, signal));
          },
        });
        progress.close();
        // One image: the wall time of the command; several: each image's own stages.
        const wall = (Date.now() - started) / 1000;
        const seconds = (outcome: (typeof outcomes)[number]) =>
          outcomes.length === 1 ? wall : Object.values(outcome.timings).reduce((a, b) => a + b, 0);
        const summaries = outcomes.map((outcome, i) =>
          buildSummary(requests[i], outcome, stored.get(outcome.image.imageName)!, seconds(outcome)),
        );
        printSummaries(summaries, { json: Boolean(options.json), quiet: verbosity === 'quiet' });
        return 0;
      } finally {
        progress.close();
      }
    },
    { verbose: () => verbose },
  );
}

/** The work and cache folders must be folders this run can write (not files, not /proc). */
function folderChecks(request: BuildRequest) {
  return [
    { name: 'work directory', verify: () => checkWritableFolder(request.workRoot, 'the work directory (--work-dir)') },
    ...(request.noCache
      ? []
      : [{ name: 'bootstrap cache', verify: () => checkWritableFolder(request.cacheDir, 'the bootstrap cache (--cache-dir)') }]),
  ];
}

function announce(requests: BuildRequest[], storeLine: string, options: CreateImageOptions, info: (m: string) => void) {
  for (const request of requests) info(`building ${request.imageName} (${request.recipe.build_type}, from ${request.recipe.origin})`);
  const noMode = !options.buildOnly && !options.localStorage && !options.publish;
  info(noMode ? `no storage mode given, so ${storeLine}` : storeLine);
}

/** What the store must know of a request's image before the build (lib/storage knows no BuildRequest). */
export function plannedImage(request: BuildRequest): PlannedImage {
  const { recipe } = request;
  return {
    imageName: request.imageName,
    releaseLabel: request.releaseLabel,
    buildType: recipe.build_type,
    indexKey: packerFor(recipe.build_type).indexKey,
    fileName: imageFileName(request),
    ...(recipe.build_type === 'docker' ? { push: { registry: request.dockerRegistry, repository: recipe.docker.repository } } : {}),
  };
}
