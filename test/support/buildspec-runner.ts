import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { ImageFactory } from '../../lib/constructs';

/**
 * Running what CodeBuild runs, here: a synthesized project's buildspec and environment,
 * taken from the template, with the phases' commands run in order in the unpacked builder
 * asset; and its role's S3 statements, as a policy for a Ceph RGW user.
 */

export interface CfnResource {
  Type: string;
  Properties: Record<string, any>;
}

export interface SynthesizedFactory {
  app: App;
  stack: Stack;
  factory: ImageFactory;
  resources: Record<string, CfnResource>;
  logicalId(construct: { node: { defaultChild?: unknown } }): string;
  /** The staged builder asset (what CodeBuild unzips into CODEBUILD_SRC_DIR). */
  assetDir: string;
}

export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';

/** Synthesizes one factory (CloudFormation's own validation off) into a temporary cdk.out. */
export function synthesizeFactory(makeFactory: (stack: Stack) => ImageFactory): SynthesizedFactory {
  process.env.CDK_VALIDATION = 'false';
  const app = new App({ outdir: mkdtempSync(join(tmpdir(), 'buildspec-cdkout-')) });
  const stack = new Stack(app, 'Factory', { env: { account: ACCOUNT, region: REGION } });
  const factory = makeFactory(stack);
  const assembly = app.synth();
  const template = assembly.getStackByName('Factory').template as { Resources: Record<string, CfnResource> };
  const asset = factory.node.findChild('Builder').node.findChild('Bundle') as unknown as { assetPath: string };
  return {
    app,
    stack,
    factory,
    resources: template.Resources,
    logicalId: (construct) => stack.getLogicalId(construct.node.defaultChild as never),
    assetDir: join(app.outdir, asset.assetPath),
  };
}

/**
 * Resolves the CloudFormation forms the projects and policies use: Ref (to the given
 * names, or a pseudo parameter), Fn::Join, Fn::GetAtt of an ARN (`arns`), Fn::Sub.
 */
export function resolveCfn(value: unknown, names: Record<string, string>, arns: Record<string, string> = {}): any {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || value === null) return value;
  if (Array.isArray(value)) return value.map((v) => resolveCfn(v, names, arns));
  const v = value as Record<string, any>;
  const pseudo: Record<string, string> = {
    'AWS::Partition': 'aws', 'AWS::AccountId': ACCOUNT, 'AWS::Region': REGION, 'AWS::URLSuffix': 'amazonaws.com',
  };
  if (v.Ref !== undefined) {
    const found = names[v.Ref] ?? pseudo[v.Ref];
    if (found === undefined) throw new Error(`unresolved Ref ${v.Ref}`);
    return found;
  }
  if (v['Fn::Join']) return (v['Fn::Join'][1] as unknown[]).map((p) => resolveCfn(p, names, arns)).join(v['Fn::Join'][0]);
  if (v['Fn::GetAtt']) {
    const [id, attribute] = v['Fn::GetAtt'] as [string, string];
    const key = `${id}.${attribute}`;
    if (arns[key] !== undefined) return arns[key];
    throw new Error(`unresolved Fn::GetAtt ${key}`);
  }
  if (v['Fn::Sub'] && typeof v['Fn::Sub'] === 'string') {
    return (v['Fn::Sub'] as string).replace(/\$\{([^}]+)\}/g, (_m, name: string) => resolveCfn({ Ref: name }, names, arns));
  }
  return Object.fromEntries(Object.entries(v).map(([k, inner]) => [k, resolveCfn(inner, names, arns)]));
}

export interface ProjectRun {
  buildSpec: { phases: Record<string, { commands?: string[] }> };
  /** Plain variables, resolved. */
  env: Record<string, string>;
  /** Secret variables: name -> where CodeBuild would read it from. */
  secrets: Record<string, string>;
}

/** A project's buildspec and environment as synthesized, with its variables resolved. */
export function projectRun(synthesized: SynthesizedFactory, project: { node: { defaultChild?: unknown } }, names: Record<string, string>, arns: Record<string, string> = {}): ProjectRun {
  const properties = synthesized.resources[synthesized.logicalId(project)].Properties;
  const env: Record<string, string> = {};
  const secrets: Record<string, string> = {};
  for (const variable of properties.Environment.EnvironmentVariables as Array<{ Name: string; Type: string; Value: unknown }>) {
    const value = String(resolveCfn(variable.Value, names, arns));
    if (variable.Type === 'PLAINTEXT') env[variable.Name] = value;
    else secrets[variable.Name] = value;
  }
  return { buildSpec: JSON.parse(properties.Source.BuildSpec), env, secrets };
}

/** CodeBuild unzips the asset into CODEBUILD_SRC_DIR; the staged folder is the same tree. */
export function unpackAsset(assetDir: string): string {
  const src = mkdtempSync(join(tmpdir(), 'codebuild-src-'));
  cpSync(assetDir, src, { recursive: true });
  return src;
}

/** The environment CodeBuild gives a build: the project's variables, its own, the overrides. */
export function codebuildEnv(run: ProjectRun, src: string, overrides: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME ?? '/root',
    ...run.env,
    CODEBUILD_SRC_DIR: src,
    CODEBUILD_BUILD_ID: 'tailor-image-local:test',
    CODEBUILD_INITIATOR: 'buildspec-test',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...overrides,
  };
}

/** Runs the phases' commands as CodeBuild does (one bash, in order, stopping at the first failure). */
export function runPhases(spec: ProjectRun['buildSpec'], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  const script = ['set -e'];
  for (const phase of ['install', 'pre_build', 'build', 'post_build']) {
    for (const command of spec.phases[phase]?.commands ?? []) script.push(command);
  }
  const file = join(cwd, '.codebuild-phases.sh');
  writeFileSync(file, `${script.join('\n')}\n`);
  return new Promise((done, reject) => {
    const child = spawn('bash', [file], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c) => (output = (output + c).slice(-40000)));
    child.stderr.on('data', (c) => (output = (output + c).slice(-40000)));
    child.on('error', reject);
    child.on('close', (code) => done({ code: code ?? 1, output }));
  });
}

export function failure(result: { code: number; output: string }): string {
  const lines = result.output.split('\n').filter((l) => !/Reading database|^N: /.test(l));
  return `the buildspec failed (${result.code}):\n${lines.slice(-30).join('\n')}`;
}

export interface PolicyStatement {
  Effect: 'Allow' | 'Deny';
  Action: string[];
  Resource: string[];
  Condition?: Record<string, Record<string, unknown>>;
}

const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/**
 * The S3 part of a role's policies, as a policy for an RGW user: every statement of the
 * role's AWS::IAM::Policy resources with its S3 actions, the resources (resolved) on the
 * given buckets, and its conditions. Statements on other buckets (CodeBuild's source
 * asset and cache, which CodeBuild itself reads and writes) are left out.
 */
export function s3PolicyOf(
  synthesized: SynthesizedFactory,
  role: { node: { defaultChild?: unknown } },
  names: Record<string, string>,
  arns: Record<string, string>,
  buckets: string[],
): PolicyStatement[] {
  const roleId = synthesized.logicalId(role);
  const onBuckets = (arn: string) => buckets.some((bucket) => arn === `arn:aws:s3:::${bucket}` || arn.startsWith(`arn:aws:s3:::${bucket}/`));
  return Object.values(synthesized.resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((ref: { Ref: string }) => ref.Ref === roleId))
    .flatMap((r) => r.Properties.PolicyDocument.Statement as Array<Record<string, any>>)
    .map((statement) => ({ statement, actions: asList<string>(statement.Action).filter((action) => action.startsWith('s3:')) }))
    .filter(({ actions }) => actions.length > 0)
    .map(({ statement, actions }): PolicyStatement => ({
      Effect: statement.Effect,
      Action: actions,
      // A resource naming something else (CDK's asset bucket) does not resolve here: not ours.
      Resource: asList(statement.Resource).flatMap((resource) => {
        try {
          return [String(resolveCfn(resource, names, arns))];
        } catch {
          return [];
        }
      }).filter(onBuckets),
      ...(statement.Condition ? { Condition: resolveCfn(statement.Condition, names, arns) } : {}),
    }))
    .filter((statement) => statement.Resource.length > 0);
}

export function policyDocument(statements: PolicyStatement[]): object {
  return { Version: '2012-10-17', Statement: statements };
}

/** One line naming a statement: its actions on its resources. */
export function describeStatement(statement: PolicyStatement): string {
  const condition = statement.Condition ? ` if ${JSON.stringify(statement.Condition)}` : '';
  return `${statement.Action.join(',')} on ${statement.Resource.join(',')}${condition}`;
}
