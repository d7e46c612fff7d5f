import { randomUUID } from 'node:crypto';
import { FakeJsonService } from './fake-json-service';

/**
 * A stand-in for the CodeBuild API on 127.0.0.1, speaking its JSON 1.1 protocol
 * (POST /, X-Amz-Target: CodeBuild_20161006.<Operation>). It keeps projects and builds;
 * each BatchGetBuilds moves every unfinished build one phase on, so a client that polls
 * sees the phases go by. Builds whose DISTRIBUTION is in `failDistributions` fail in BUILD.
 */
export interface FakeProject {
  name: string;
  env: Record<string, string>;
  /** Variables CodeBuild resolves from Secrets Manager (type SECRETS_MANAGER). */
  secrets?: string[];
  tags?: Record<string, string>;
}

interface FakeBuild {
  id: string;
  project: string;
  env: Record<string, string>;
  step: number;
  fails: boolean;
}

const PHASES = ['SUBMITTED', 'QUEUED', 'PROVISIONING', 'DOWNLOAD_SOURCE', 'INSTALL', 'PRE_BUILD', 'BUILD', 'POST_BUILD',
  'UPLOAD_ARTIFACTS', 'FINALIZING', 'COMPLETED'];
const BUILD_PHASE = PHASES.indexOf('BUILD');
const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';

export class FakeCodeBuild extends FakeJsonService {
  readonly builds = new Map<string, FakeBuild>();
  failDistributions = new Set<string>();
  /** When set, the only projects BatchGetProjects may read (as an IAM grant on their ARNs): any other name is AccessDenied. */
  readableProjects?: Set<string>;
  /** Projects per ListProjects page, to exercise paging. */
  pageSize = 2;

  constructor(readonly projects: FakeProject[]) {
    super('CodeBuild_20161006', 'application/x-amz-json-1.1', 'InvalidInputException');
  }

  protected answer(operation: string, body: any): unknown {
    switch (operation) {
      case 'ListProjects': {
        const names = this.projects.map((p) => p.name).sort();
        const start = body.nextToken ? Number(body.nextToken) : 0;
        const page = names.slice(start, start + this.pageSize);
        const next = start + this.pageSize < names.length ? String(start + this.pageSize) : undefined;
        return { projects: page, ...(next ? { nextToken: next } : {}) };
      }
      case 'BatchGetProjects': {
        const unreadable = (body.names as string[]).find((name) => this.readableProjects && !this.readableProjects.has(name));
        if (unreadable) throw Object.assign(new Error(`not authorized to perform codebuild:BatchGetProjects on project/${unreadable}`), { type: 'AccessDeniedException' });
        const found = this.projects.filter((p) => body.names.includes(p.name));
        return {
          projects: found.map((p) => ({
            name: p.name,
            arn: `arn:aws:codebuild:${REGION}:${ACCOUNT}:project/${p.name}`,
            environment: {
              type: 'LINUX_CONTAINER',
              image: 'aws/codebuild/standard:8.0',
              computeType: 'BUILD_GENERAL1_MEDIUM',
              environmentVariables: [
                ...Object.entries(p.env).map(([name, value]) => ({ name, value, type: 'PLAINTEXT' })),
                ...(p.secrets ?? []).map((name) => ({ name, value: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}`, type: 'SECRETS_MANAGER' })),
              ],
            },
            tags: Object.entries(p.tags ?? {}).map(([key, value]) => ({ key, value })),
          })),
          projectsNotFound: body.names.filter((n: string) => !found.some((p) => p.name === n)),
        };
      }
      case 'StartBuild': {
        const project = this.projects.find((p) => p.name === body.projectName);
        if (!project) throw new Error(`no project ${body.projectName}`);
        const env = { ...project.env };
        for (const v of body.environmentVariablesOverride ?? []) env[v.name] = v.value;
        const build: FakeBuild = {
          id: `${project.name}:${randomUUID()}`,
          project: project.name,
          env,
          step: 0,
          fails: this.failDistributions.has(env.DISTRIBUTION),
        };
        this.builds.set(build.id, build);
        return { build: this.describe(build) };
      }
      case 'BatchGetBuilds': {
        const found = (body.ids as string[]).map((id) => this.builds.get(id)).filter((b): b is FakeBuild => b !== undefined);
        for (const build of found) this.advance(build);
        return {
          builds: found.map((b) => this.describe(b)),
          buildsNotFound: (body.ids as string[]).filter((id) => !this.builds.has(id)),
        };
      }
      default:
        throw new Error(`operation ${operation} is not faked`);
    }
  }

  private advance(build: FakeBuild): void {
    if (build.step >= PHASES.length - 1) return;
    // A failed BUILD skips to FINALIZING, as CodeBuild does.
    build.step = build.fails && build.step === BUILD_PHASE ? PHASES.indexOf('FINALIZING') : build.step + 1;
  }

  private describe(build: FakeBuild): Record<string, unknown> {
    const done = build.step === PHASES.length - 1;
    const reached = PHASES.slice(0, build.step + 1);
    const phases = reached.map((phaseType, i) => {
      const finished = i < build.step || phaseType === 'COMPLETED';
      const failed = build.fails && phaseType === 'BUILD' && finished;
      return {
        phaseType,
        startTime: 1764100000 + i,
        ...(finished && phaseType !== 'COMPLETED' ? { phaseStatus: failed ? 'FAILED' : 'SUCCEEDED', endTime: 1764100001 + i } : {}),
        ...(failed ? { contexts: [{ statusCode: 'COMMAND_EXECUTION_ERROR', message: 'Error while executing command: node create_image.js. Reason: exit status 1' }] } : {}),
      };
    });
    const provisioned = build.step > PHASES.indexOf('PROVISIONING');
    return {
      id: build.id,
      arn: `arn:aws:codebuild:${REGION}:${ACCOUNT}:build/${build.id}`,
      projectName: build.project,
      startTime: 1764100000,
      currentPhase: PHASES[build.step],
      buildStatus: done ? (build.fails ? 'FAILED' : 'SUCCEEDED') : 'IN_PROGRESS',
      buildComplete: done,
      phases,
      environment: {
        type: 'LINUX_CONTAINER',
        image: 'aws/codebuild/standard:8.0',
        computeType: 'BUILD_GENERAL1_MEDIUM',
        environmentVariables: Object.entries(build.env).map(([name, value]) => ({ name, value, type: 'PLAINTEXT' })),
      },
      ...(provisioned ? {
        logs: {
          groupName: `/tailor-image/${build.project}`,
          streamName: build.id.split(':')[1],
          deepLink: `https://console.aws.amazon.com/cloudwatch/home?region=${REGION}#logEvent:group=/tailor-image/${build.project};stream=${build.id.split(':')[1]}`,
        },
      } : {}),
    };
  }
}
