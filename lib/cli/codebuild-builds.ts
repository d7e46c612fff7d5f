import {
  BatchGetBuildsCommand, BatchGetProjectsCommand, Build, CodeBuildClient, EnvironmentVariable, Project, StartBuildCommand,
} from '@aws-sdk/client-codebuild';
import { Architecture, DEFAULT_ARCHITECTURE, checkArchitecture } from '../core/architecture';
import { BuildError, InterruptedError, UsageError } from '../core/errors';
import { sleep } from '../core/sleep';
import { FACTORY_TAG } from '../core/factory-tags';

/** One build to start: a factory project (one per recipe and architecture) and a distribution. */
export interface PlannedBuild {
  project: string;
  image: string;
  distribution: string;
  /** The project's architecture (each architecture has its own project, on its own compute). */
  architecture: Architecture;
  /** `<bucket>/<recipe>` of the project's cache, when it has one. */
  cacheLocation?: string;
}

/** What the factory's projects say about themselves (their environment variables and tags). */
export interface FactoryProject {
  name: string;
  image: string;
  /** The distributions the recipe allows (the project's DISTRIBUTIONS). */
  distributions: string[];
  /** What the project builds for (its ARCHITECTURE; amd64 projects set none). */
  architecture: Architecture;
  /** The release labels its role may publish under (RELEASE_LABELS, else RELEASE_LABEL). */
  releaseLabels: string[];
  /** Variables CodeBuild fills from Secrets Manager or SSM: never set from the command line. */
  secretNames: string[];
  /** `<bucket>/<recipe>`: each build's cache goes to `<this>/<distribution>`. */
  cacheLocation?: string;
}

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'FAULT', 'STOPPED', 'TIMED_OUT']);

/** Turns SDK failures into one line; a missing region or credentials is the user's to fix. */
export function sdkError(action: string, error: unknown): Error {
  if (error instanceof UsageError || error instanceof BuildError || error instanceof InterruptedError) return error;
  const e = error as { name?: string; message?: string };
  const message = (e.message ?? String(error)).split('\n')[0];
  if (/Region is missing/i.test(message)) return new UsageError('no AWS region: set AWS_REGION or pass --region');
  if (e.name === 'CredentialsProviderError') return new UsageError(`no AWS credentials: ${message}`);
  return new BuildError(`${action} failed: ${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${message}`);
}

/** How a build is named in trigger's output: `<image>/<distribution>/<architecture>`. */
export function buildLabel(planned: PlannedBuild): string {
  return `${planned.image}/${planned.distribution}/${planned.architecture}`;
}

/**
 * Reads the factory's projects by name (as made by ImageFactory: IMAGE_NAME, DISTRIBUTIONS
 * and the factory tag). A project of that name that another factory (or no factory) made is
 * refused: names alone do not say whose a project is. A name without a project is refused,
 * or with `skipMissing` left out of the answer (the caller decides); with `onRefused`, a
 * lookup the caller may not make (AccessDeniedException) is handed to it and its names skipped.
 */
export async function describeProjects(
  client: CodeBuildClient,
  names: string[],
  factory: string,
  options: { skipMissing?: boolean; onRefused?: (error: Error) => void } = {},
): Promise<FactoryProject[]> {
  const found: Project[] = [];
  for (let i = 0; i < names.length; i += 100) {
    let response;
    try {
      response = await client.send(new BatchGetProjectsCommand({ names: names.slice(i, i + 100) }));
    } catch (error) {
      if (options.onRefused && (error as { name?: string }).name === 'AccessDeniedException') {
        options.onRefused(sdkError('BatchGetProjects', error));
        continue;
      }
      throw sdkError('BatchGetProjects', error);
    }
    const missing = response.projectsNotFound ?? [];
    if (missing.length > 0 && !options.skipMissing) {
      throw new UsageError(`no CodeBuild project ${missing.map((m) => `"${m}"`).join(', ')} (is the factory "${factory}" deployed, and is --factory right?)`);
    }
    found.push(...(response.projects ?? []));
  }
  return found.map((project) => factoryProject(project, factory));
}

function factoryProject(project: Project, factory: string): FactoryProject {
  const owner = project.tags?.find((tag) => tag.key === FACTORY_TAG)?.value;
  if (owner !== factory) {
    throw new UsageError(`CodeBuild project "${project.name}" is not factory "${factory}"'s (${owner ? `it is factory "${owner}"'s` : `it has no ${FACTORY_TAG} tag`})`);
  }
  const variables = project.environment?.environmentVariables ?? [];
  const env = new Map(variables.map((v) => [v.name, v.value ?? '']));
  const image = env.get('IMAGE_NAME');
  const words = (name: string) => (env.get(name) ?? '').split(/\s+/).filter(Boolean);
  const distributions = words('DISTRIBUTIONS');
  if (!image || distributions.length === 0) {
    throw new UsageError(`CodeBuild project "${project.name}" is not a tailor-image build project (no IMAGE_NAME/DISTRIBUTIONS)`);
  }
  const releaseLabels = words('RELEASE_LABELS').length > 0 ? words('RELEASE_LABELS') : words('RELEASE_LABEL');
  const secretNames = variables.filter((v) => v.name && v.type && v.type !== 'PLAINTEXT').map((v) => v.name!);
  let architecture: Architecture;
  try {
    architecture = checkArchitecture(env.get('ARCHITECTURE') || DEFAULT_ARCHITECTURE, 'ARCHITECTURE');
  } catch {
    throw new UsageError(`CodeBuild project "${project.name}" builds for an architecture this trigger does not know (ARCHITECTURE ${env.get('ARCHITECTURE')})`);
  }
  return {
    name: project.name!, image, distributions, architecture, releaseLabels, secretNames, cacheLocation: env.get('CACHE_LOCATION') || undefined,
  };
}

/** Starts one build with DISTRIBUTION and the other overrides set; returns it as CodeBuild reports it. */
export async function startBuild(
  client: CodeBuildClient,
  planned: PlannedBuild,
  overrides: Record<string, string>,
  signal: AbortSignal,
): Promise<Build> {
  const environmentVariablesOverride: EnvironmentVariable[] = Object.entries({ ...overrides, DISTRIBUTION: planned.distribution })
    .map(([name, value]) => ({ name, value, type: 'PLAINTEXT' }));
  // Each distribution has its own cache place, as in the pipeline.
  const cacheOverride = planned.cacheLocation ? { type: 'S3' as const, location: `${planned.cacheLocation}/${planned.distribution}` } : undefined;
  try {
    const response = await client.send(
      new StartBuildCommand({ projectName: planned.project, environmentVariablesOverride, cacheOverride }),
      { abortSignal: signal },
    );
    if (!response.build?.id) throw new BuildError(`StartBuild of ${planned.project} returned no build`);
    return response.build;
  } catch (error) {
    throw sdkError(`StartBuild of ${planned.project} (${planned.distribution})`, error);
  }
}

/** The link a person opens to read a build's log. */
export function logLink(build: Build, region: string): string {
  if (build.logs?.deepLink) return build.logs.deepLink;
  const [, , , , account] = (build.arn ?? '').split(':');
  const project = build.projectName ?? (build.id ?? '').split(':')[0];
  return `https://${region}.console.aws.amazon.com/codesuite/codebuild/${account ?? ''}/projects/${project}/build/${encodeURIComponent(build.id ?? '')}/?region=${region}`;
}

export interface FollowOptions {
  intervalMs: number;
  region: string;
  /** One line per event (phase changes, completion). */
  report: (line: string) => void;
  signal: AbortSignal;
}

/**
 * Polls BatchGetBuilds until every build has finished, reporting each phase as it
 * starts and each build as it ends (with its log link). Returns the final builds.
 */
export async function followBuilds(
  client: CodeBuildClient,
  builds: Array<{ planned: PlannedBuild; id: string }>,
  options: FollowOptions,
): Promise<Map<string, Build>> {
  const seenPhase = new Map<string, string>();
  const linked = new Set<string>();
  const finished = new Map<string, Build>();
  const label = new Map(builds.map((b) => [b.id, buildLabel(b.planned)]));
  for (;;) {
    const pending = builds.map((b) => b.id).filter((id) => !finished.has(id));
    for (let i = 0; i < pending.length; i += 100) {
      let response;
      try {
        response = await client.send(new BatchGetBuildsCommand({ ids: pending.slice(i, i + 100) }), { abortSignal: options.signal });
      } catch (error) {
        if (options.signal.aborted) throw new InterruptedError(String(options.signal.reason ?? 'SIGINT'));
        throw sdkError('BatchGetBuilds', error);
      }
      for (const build of response.builds ?? []) {
        const id = build.id!;
        const name = label.get(id) ?? id;
        if (build.logs?.deepLink && !linked.has(id)) {
          linked.add(id);
          options.report(`${name}: logs ${build.logs.deepLink}`);
        }
        if (build.currentPhase && seenPhase.get(id) !== build.currentPhase) {
          seenPhase.set(id, build.currentPhase);
          if (build.currentPhase !== 'COMPLETED') options.report(`${name}: ${build.currentPhase}`);
        }
        if (build.buildStatus && TERMINAL.has(build.buildStatus) && build.buildComplete !== false) {
          finished.set(id, build);
          const failedPhase = failedPhaseOf(build);
          options.report(`${name}: ${build.buildStatus}${failedPhase ? ` in ${failedPhase}` : ''} (${logLink(build, options.region)})`);
        }
      }
      const unknown = response.buildsNotFound ?? [];
      if (unknown.length > 0) throw new BuildError(`CodeBuild no longer knows build ${unknown[0]}`);
    }
    if (finished.size === builds.length) return finished;
    await sleep(options.intervalMs, options.signal);
  }
}

/** The phase that failed and why, e.g. `BUILD: COMMAND_EXECUTION_ERROR: ...`. */
export function failedPhaseOf(build: Build): string | undefined {
  const phase = (build.phases ?? []).find((p) => p.phaseStatus && p.phaseStatus !== 'SUCCEEDED' && p.phaseType !== 'COMPLETED');
  if (!phase) return undefined;
  const context = phase.contexts?.find((c) => c.message)?.message;
  return `${phase.phaseType}${context ? ` (${context.split('\n')[0]})` : ''}`;
}

/** Waits ms, or rejects with InterruptedError when the signal aborts (the commands' one sleep). */
export { sleep } from '../core/sleep';
