import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import { SFNClient } from '@aws-sdk/client-sfn';
import { Command, Option } from 'commander';
import { ARCHITECTURES, Architecture, archNameField, checkArchitecture } from '../core/architecture';
import { checkNameField, formatTimestamp } from '../core/naming';
import { BuildError, UsageError } from '../core/errors';
import { buildProjectName } from '../core/factory-tags';
import {
  FactoryProject, PlannedBuild, buildLabel, describeProjects, followBuilds, logLink, startBuild,
} from './codebuild-builds';
import { executionLink, findPipeline, followExecution, startPipeline } from './pipeline-execution';
import { runMain } from './main';
import { commanderErrorOutput, refuseRepeatedFlags } from './flags';
import packageJson from '../../package.json';

interface TriggerOptions {
  name?: string;
  all?: boolean;
  distribution: string[];
  arch: string[];
  set: string[];
  factory: string;
  prefix?: string;
  region?: string;
  wait: boolean;
  pollInterval: string;
}

/** Overrides a build may never set from the command line (besides the project's own secrets). */
const SECRET_VARIABLES = new Set(['USER_PASSWORD', 'APT_REPO_KEY']);
/** Set by the factory for its own bookkeeping: the grants follow them, an override would not. */
const FACTORY_VARIABLES = new Set(['RELEASE_LABELS', 'CACHE_LOCATION', 'DISTRIBUTIONS', 'IMAGE_NAME', 'ARCHITECTURE']);

const DEFAULT_FACTORY = 'TailorImageFactory';

const HELP = `
Examples:
  trigger --name webapp --distribution jammy --distribution noble
  trigger --name webapp --arch arm64 --distribution bookworm
  trigger --name wrangler --set TIMESTAMP=20261126.120000 --set MIRROR=http://mirror.example.com/ubuntu
  trigger --all --factory AcmeImagesStaging

Without --distribution, every distribution the recipe allows is built; without --arch,
every architecture the factory has a project for (<factory>-<image> for amd64,
<factory>-<image>-arm64 for arm64, on ARM compute). Each build is shown as
<image>/<distribution>/<architecture>. --all starts the factory's pipeline (every recipe x
distribution x architecture, the cleanup, the failure notification) and follows it. The factory is the ImageFactory's factoryName (by default its stack's
name; TAILOR_IMAGE_FACTORY sets the default here); what is found must carry its tag.
Region and credentials come from the standard AWS configuration (AWS_REGION, profiles...).

Exit codes: 0 every build succeeded, 1 a build failed, 2 bad usage or unknown image, 130 interrupted.`;

export function triggerCommand(): Command {
  const collect = (value: string, previous: string[]) => [...previous, value];
  const command = new Command('trigger')
    .description('Start image builds in the AWS image factory (CodeBuild) and follow them to the end.')
    .version(packageJson.version, '-V, --version')
    .option('--name <image>', 'the image (recipe) to build')
    .option('--all', 'start the factory\'s pipeline: every recipe x distribution, then the cleanup')
    .option('--distribution <codename>', 'a distribution to build (repeatable; default: all the recipe allows)', collect, [])
    .option('--arch <arch>', `an architecture to build, ${ARCHITECTURES.join(' or ')} (repeatable; default: every one the factory builds the image for)`, collect, [])
    .option('--set <NAME=VALUE>', 'override a build environment variable (repeatable), e.g. TIMESTAMP, RELEASE_LABEL', collect, [])
    .option('--factory <name>', 'the factory (its factoryName)', process.env.TAILOR_IMAGE_FACTORY || DEFAULT_FACTORY)
    .addOption(new Option('--prefix <name>', 'the factory (old name of --factory)').hideHelp())
    .option('--region <region>', 'AWS region (default: from the AWS configuration)')
    .option('--no-wait', 'start the builds, print their log links and exit')
    .addOption(new Option('--poll-interval <seconds>', 'seconds between status checks').default('15'))
    .addHelpText('after', HELP)
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput(commanderErrorOutput('trigger'));
  return refuseRepeatedFlags(command, ['--distribution', '--arch', '--set']);
}

/** `trigger`: check everything, start the builds, follow them, exit 1 when one fails. */
export function triggerMain(argv: string[]): Promise<number> {
  return runMain('trigger', async (signal) => {
    const command = triggerCommand();
    command.parse(argv, { from: 'user' });
    const options = command.opts<TriggerOptions>();
    const factory = options.prefix ?? options.factory;
    const overrides = parseOverrides(options.set);
    const intervalMs = parseInterval(options.pollInterval);
    if (Boolean(options.name) === Boolean(options.all)) throw new UsageError('give exactly one of --name <image> or --all');
    if (options.all && options.distribution.length > 0) throw new UsageError('--distribution goes with --name, not --all');
    if (options.all && options.arch.length > 0) throw new UsageError('--arch goes with --name, not --all (the pipeline builds every architecture)');
    if (options.all && options.set.length > 0) throw new UsageError('--set goes with --name, not --all (the pipeline builds with the projects\' settings)');
    if (!/^[A-Za-z][A-Za-z0-9-]{0,62}$/.test(factory)) throw new UsageError(`--factory "${factory}" is not a factory name`);
    const image = options.name ? checkNameField('name', options.name) : undefined;
    for (const d of options.distribution) checkNameField('distribution', d);
    const architectures = [...new Set(options.arch.map((arch) => checkArchitecture(arch)))];
    const region = options.region ? { region: options.region } : {};

    if (!image) {
      const sfnClient = new SFNClient(region);
      const regionName = await resolveRegion(sfnClient);
      const pipeline = await findPipeline(sfnClient, factory);
      const execution = await startPipeline(sfnClient, pipeline, signal);
      process.stdout.write(`started ${pipeline.name}: ${execution} ${executionLink(execution, regionName)}\n`);
      if (!options.wait) return 0;
      const ended = await followExecution(sfnClient, execution, { intervalMs, signal, report: (line) => process.stdout.write(`${line}\n`) });
      if (ended.status !== 'SUCCEEDED') {
        const why = [ended.error, ended.cause].filter(Boolean).join(': ');
        throw new BuildError(`the pipeline ${ended.status}${why ? ` (${why.split('\n')[0]})` : ''}: see the notification and ${executionLink(execution, regionName)}`);
      }
      process.stdout.write('the pipeline succeeded\n');
      return 0;
    }

    const client = new CodeBuildClient(region);
    const regionName = await resolveRegion(client);
    const projects = await findProjects(client, factory, image, architectures);
    const plan = planBuilds(projects, options.distribution);
    checkOverrides(projects, overrides);
    // Several architectures of an image: one timestamp for all, so they land in one slot time
    // and the publish store puts their image index under the usual tag (docs/CONTAINERS.md).
    if (overrides.TIMESTAMP === undefined && new Set(plan.map((p) => p.architecture)).size > 1) overrides.TIMESTAMP = formatTimestamp(new Date());

    const started: Array<{ planned: PlannedBuild; id: string }> = [];
    for (const planned of plan) {
      const build = await startBuild(client, planned, overrides, signal);
      started.push({ planned, id: build.id! });
      process.stdout.write(`started ${buildLabel(planned)}: ${build.id} ${logLink(build, regionName)}\n`);
    }
    if (!options.wait) return 0;

    const finished = await followBuilds(client, started, {
      intervalMs,
      region: regionName,
      signal,
      report: (line) => process.stdout.write(`${line}\n`),
    });
    const failed = started.filter((b) => finished.get(b.id)?.buildStatus !== 'SUCCEEDED');
    if (failed.length > 0) {
      const which = failed.map((b) => `${buildLabel(b.planned)} ${finished.get(b.id)?.buildStatus}`).join(', ');
      throw new BuildError(`${failed.length} of ${started.length} build(s) did not succeed: ${which}`);
    }
    process.stdout.write(`all ${started.length} build(s) succeeded\n`);
    return 0;
  });
}

/**
 * The image's projects, one per architecture: those asked for (each must exist), or without
 * --arch every one the factory made (amd64 `<factory>-<image>`, arm64 `<factory>-<image>-arm64`).
 * A project must build the architecture its name says.
 */
export async function findProjects(client: CodeBuildClient, factory: string, image: string, asked: Architecture[]): Promise<FactoryProject[]> {
  const architectures = asked.length > 0 ? asked : [...ARCHITECTURES];
  const names = new Map(architectures.map((arch) => [buildProjectName(factory, archNameField(image, arch)), arch]));
  let found: FactoryProject[];
  let refused: Error | undefined;
  if (asked.length > 0) {
    found = await describeProjects(client, [...names.keys()], factory);
  } else {
    // One name at a time: an operator granted (grantTrigger) by a factory made before it had
    // arm64 projects may read only the projects it had; a refusal of another name is its absence.
    found = [];
    for (const name of names.keys()) {
      found.push(...await describeProjects(client, [name], factory, { skipMissing: true, onRefused: (error) => { refused ??= error; } }));
    }
  }
  if (found.length === 0) {
    if (refused) throw refused;
    throw new UsageError(`no CodeBuild project ${[...names.keys()].map((n) => `"${n}"`).join(' or ')} (is the factory "${factory}" deployed, and is --factory right?)`);
  }
  for (const project of found) {
    const expected = names.get(project.name);
    if (project.architecture !== expected) {
      throw new UsageError(`CodeBuild project "${project.name}" builds ${project.architecture}, not ${expected} (its ARCHITECTURE)`);
    }
  }
  return found.sort((a, b) => architectures.indexOf(a.architecture) - architectures.indexOf(b.architecture));
}

/**
 * What the projects refuse, checked before anything starts: their secrets (and the usual
 * secret names), the factory's own bookkeeping, and a release label their role was not
 * granted (it would fail late, at the first S3 call).
 */
export function checkOverrides(projects: FactoryProject[], overrides: Record<string, string>): void {
  for (const name of Object.keys(overrides)) {
    if (projects.some((p) => p.secretNames.includes(name))) throw secretRefused(name);
    if (FACTORY_VARIABLES.has(name)) throw new UsageError(`--set ${name}: set by the factory, not per build`);
  }
  const label = overrides.RELEASE_LABEL;
  if (label === undefined) return;
  for (const project of projects) {
    if (!project.releaseLabels.includes(label)) {
      throw new UsageError(
        `--set RELEASE_LABEL=${label}: project "${project.name}" may publish only under ${project.releaseLabels.join(', ')} ` +
          '(add the label to the factory\'s releaseLabels to grant it)',
      );
    }
  }
}

/** Builds for the chosen projects; a distribution the recipe does not allow is a usage error. */
export function planBuilds(projects: FactoryProject[], distributions: string[]): PlannedBuild[] {
  return projects.flatMap((project) => {
    const chosen = distributions.length > 0 ? distributions : project.distributions;
    const refused = chosen.filter((d) => !project.distributions.includes(d));
    if (refused.length > 0) {
      throw new UsageError(`image "${project.image}" is not built for ${refused.join(', ')} (its distributions: ${project.distributions.join(', ')})`);
    }
    return [...new Set(chosen)].map((distribution) => ({
      project: project.name, image: project.image, distribution, architecture: project.architecture, cacheLocation: project.cacheLocation,
    }));
  });
}

function secretRefused(name: string): UsageError {
  return new UsageError(`--set ${name}: secrets come from Secrets Manager or SSM, never from the command line`);
}

export function parseOverrides(values: string[]): Record<string, string> {
  const overrides: Record<string, string> = {};
  for (const value of values) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(value);
    if (!match) throw new UsageError(`--set "${value}" is not NAME=VALUE`);
    const [, name, setting] = match;
    if (name === 'DISTRIBUTION') throw new UsageError('--set DISTRIBUTION: use --distribution');
    if (name === 'ARCHITECTURE') throw new UsageError('--set ARCHITECTURE: use --arch (each architecture has its own project, on its own compute)');
    if (SECRET_VARIABLES.has(name)) throw secretRefused(name);
    overrides[name] = setting;
  }
  return overrides;
}

function parseInterval(value: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
    throw new UsageError(`--poll-interval "${value}" is not a number of seconds between 0 and 3600`);
  }
  return Math.round(seconds * 1000);
}

async function resolveRegion(client: CodeBuildClient | SFNClient): Promise<string> {
  try {
    return await client.config.region();
  } catch {
    throw new UsageError('no AWS region: set AWS_REGION or pass --region');
  }
}
