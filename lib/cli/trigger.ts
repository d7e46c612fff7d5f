import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import { Command, Option } from 'commander';
import { checkNameField } from '../core/naming';
import { BuildError, UsageError } from '../core/errors';
import {
  FactoryProject, PlannedBuild, describeProjects, followBuilds, listFactoryProjects, logLink, startBuild,
} from './codebuild-builds';
import { runMain } from './main';
import { commanderErrorOutput, refuseRepeatedFlags } from './flags';
import packageJson from '../../package.json';

interface TriggerOptions {
  name?: string;
  all?: boolean;
  distribution: string[];
  set: string[];
  prefix: string;
  region?: string;
  wait: boolean;
  pollInterval: string;
}

/** Overrides a build may not set from the command line: secrets come from Secrets Manager / SSM only. */
const SECRET_VARIABLES = new Set(['USER_PASSWORD', 'APT_REPO_KEY']);

const HELP = `
Examples:
  trigger --name webapp --distribution jammy --distribution noble
  trigger --name wrangler --set TIMESTAMP=20261126.120000 --set MIRROR=http://mirror.example.com/ubuntu
  trigger --all --prefix acme-images

Without --distribution, every distribution the recipe allows is built. --all starts every
recipe x distribution of the factory (what the pipeline builds, without its cleanup).
Region and credentials come from the standard AWS configuration (AWS_REGION, profiles...).

Exit codes: 0 every build succeeded, 1 a build failed, 2 bad usage or unknown image, 130 interrupted.`;

export function triggerCommand(): Command {
  const collect = (value: string, previous: string[]) => [...previous, value];
  const command = new Command('trigger')
    .description('Start image builds in the AWS image factory (CodeBuild) and follow them to the end.')
    .version(packageJson.version, '-V, --version')
    .option('--name <image>', 'the image (recipe) to build')
    .option('--all', 'build every recipe x distribution of the factory')
    .option('--distribution <codename>', 'a distribution to build (repeatable; default: all the recipe allows)', collect, [])
    .option('--set <NAME=VALUE>', 'override a build environment variable (repeatable), e.g. TIMESTAMP, RELEASE_LABEL', collect, [])
    .option('--prefix <prefix>', 'CodeBuild project prefix of the factory (projectPrefix)', process.env.TAILOR_IMAGE_PROJECT_PREFIX || 'tailor-image')
    .option('--region <region>', 'AWS region (default: from the AWS configuration)')
    .option('--no-wait', 'start the builds, print their log links and exit')
    .addOption(new Option('--poll-interval <seconds>', 'seconds between status checks').default('15'))
    .addHelpText('after', HELP)
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput(commanderErrorOutput('trigger'));
  return refuseRepeatedFlags(command, ['--distribution', '--set']);
}

/** `trigger`: check everything, start the builds, follow them, exit 1 when one fails. */
export function triggerMain(argv: string[]): Promise<number> {
  return runMain('trigger', async (signal) => {
    const command = triggerCommand();
    command.parse(argv, { from: 'user' });
    const options = command.opts<TriggerOptions>();
    const overrides = parseOverrides(options.set);
    const intervalMs = parseInterval(options.pollInterval);
    if (Boolean(options.name) === Boolean(options.all)) throw new UsageError('give exactly one of --name <image> or --all');
    if (options.all && options.distribution.length > 0) throw new UsageError('--distribution goes with --name, not --all');
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(options.prefix)) throw new UsageError(`--prefix "${options.prefix}" is not a CodeBuild project name prefix`);
    const image = options.name ? checkNameField('name', options.name) : undefined;
    for (const d of options.distribution) checkNameField('distribution', d);

    const client = new CodeBuildClient(options.region ? { region: options.region } : {});
    const region = await resolveRegion(client);
    const projects = image
      ? await describeProjects(client, [`${options.prefix}-${image}`])
      : await listFactoryProjects(client, options.prefix);
    const plan = planBuilds(projects, options.distribution);

    const started: Array<{ planned: PlannedBuild; id: string }> = [];
    for (const planned of plan) {
      const build = await startBuild(client, planned, overrides, signal);
      started.push({ planned, id: build.id! });
      process.stdout.write(`started ${planned.image}/${planned.distribution}: ${build.id} ${logLink(build, region)}\n`);
    }
    if (!options.wait) return 0;

    const finished = await followBuilds(client, started, {
      intervalMs,
      region,
      signal,
      report: (line) => process.stdout.write(`${line}\n`),
    });
    const failed = started.filter((b) => finished.get(b.id)?.buildStatus !== 'SUCCEEDED');
    if (failed.length > 0) {
      const which = failed.map((b) => `${b.planned.image}/${b.planned.distribution} ${finished.get(b.id)?.buildStatus}`).join(', ');
      throw new BuildError(`${failed.length} of ${started.length} build(s) did not succeed: ${which}`);
    }
    process.stdout.write(`all ${started.length} build(s) succeeded\n`);
    return 0;
  });
}

/** Builds for the chosen projects; a distribution the recipe does not allow is a usage error. */
export function planBuilds(projects: FactoryProject[], distributions: string[]): PlannedBuild[] {
  return projects.flatMap((project) => {
    const chosen = distributions.length > 0 ? distributions : project.distributions;
    const refused = chosen.filter((d) => !project.distributions.includes(d));
    if (refused.length > 0) {
      throw new UsageError(`image "${project.image}" is not built for ${refused.join(', ')} (its distributions: ${project.distributions.join(', ')})`);
    }
    return [...new Set(chosen)].map((distribution) => ({ project: project.name, image: project.image, distribution }));
  });
}

export function parseOverrides(values: string[]): Record<string, string> {
  const overrides: Record<string, string> = {};
  for (const value of values) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(value);
    if (!match) throw new UsageError(`--set "${value}" is not NAME=VALUE`);
    const [, name, setting] = match;
    if (name === 'DISTRIBUTION') throw new UsageError('--set DISTRIBUTION: use --distribution');
    if (SECRET_VARIABLES.has(name)) throw new UsageError(`--set ${name}: secrets come from Secrets Manager or SSM, never from the command line`);
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

async function resolveRegion(client: CodeBuildClient): Promise<string> {
  try {
    return await client.config.region();
  } catch {
    throw new UsageError('no AWS region: set AWS_REGION or pass --region');
  }
}
