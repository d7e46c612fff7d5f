import {
  BatchGetBuildsCommand, BatchGetProjectsCommand, Build, CodeBuildClient, EnvironmentVariable,
  ListProjectsCommand, Project, StartBuildCommand,
} from '@aws-sdk/client-codebuild';
import { BuildError, InterruptedError, UsageError } from '../core/errors';
import { sleep } from '../core/sleep';

/** One build to start: a factory project (one per recipe) and a distribution. */
export interface PlannedBuild {
  project: string;
  image: string;
  distribution: string;
}

/** What the factory's projects say about themselves (their environment variables). */
export interface FactoryProject {
  name: string;
  image: string;
  /** The distributions the recipe allows (the project's DISTRIBUTIONS). */
  distributions: string[];
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

/** Reads the factory projects by name (as made by ImageFactory: IMAGE_NAME and DISTRIBUTIONS). */
export async function describeProjects(client: CodeBuildClient, names: string[]): Promise<FactoryProject[]> {
  const found: Project[] = [];
  for (let i = 0; i < names.length; i += 100) {
    let response;
    try {
      response = await client.send(new BatchGetProjectsCommand({ names: names.slice(i, i + 100) }));
    } catch (error) {
      throw sdkError('BatchGetProjects', error);
    }
    const missing = response.projectsNotFound ?? [];
    if (missing.length > 0) {
      throw new UsageError(`no CodeBuild project ${missing.map((m) => `"${m}"`).join(', ')} (is the factory deployed, and is --prefix right?)`);
    }
    found.push(...(response.projects ?? []));
  }
  return found.map(factoryProject);
}

function factoryProject(project: Project): FactoryProject {
  const env = new Map((project.environment?.environmentVariables ?? []).map((v) => [v.name, v.value ?? '']));
  const image = env.get('IMAGE_NAME');
  const distributions = (env.get('DISTRIBUTIONS') ?? '').split(/\s+/).filter(Boolean);
  if (!image || distributions.length === 0) {
    throw new UsageError(`CodeBuild project "${project.name}" is not a tailor-image build project (no IMAGE_NAME/DISTRIBUTIONS)`);
  }
  return { name: project.name!, image, distributions };
}

/** Every build project of the factory: names starting with `<prefix>-` that carry IMAGE_NAME. */
export async function listFactoryProjects(client: CodeBuildClient, prefix: string): Promise<FactoryProject[]> {
  const names: string[] = [];
  let nextToken: string | undefined;
  do {
    let response;
    try {
      response = await client.send(new ListProjectsCommand({ sortBy: 'NAME', sortOrder: 'ASCENDING', nextToken }));
    } catch (error) {
      throw sdkError('ListProjects', error);
    }
    names.push(...(response.projects ?? []).filter((name) => name.startsWith(`${prefix}-`)));
    nextToken = response.nextToken;
  } while (nextToken);
  if (names.length === 0) throw new UsageError(`no CodeBuild project named "${prefix}-*" (is the factory deployed, and is --prefix right?)`);
  return describeProjects(client, names);
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
  try {
    const response = await client.send(
      new StartBuildCommand({ projectName: planned.project, environmentVariablesOverride }),
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
  const label = new Map(builds.map((b) => [b.id, `${b.planned.image}/${b.planned.distribution}`]));
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

