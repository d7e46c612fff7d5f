import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { Architecture } from '../core/architecture';
import { ImageBuildProject } from './image-build-project';
import { ImageCleanupProject } from './image-cleanup-project';
import { acknowledgeWildcards } from './nag';
import { invalidProps } from './validation';

/** One build of the pipeline: a recipe for a distribution and an architecture. */
export interface PipelineBuild {
  readonly name: string;
  readonly distribution: string;
  readonly architecture: Architecture;
}

/**
 * The phases whose failure says nothing about the recipe (the build never got to run it,
 * or the host's package install hit the network): a build failing there, or with CodeBuild's
 * own FAULT status, is retried. A build failing in BUILD (create_image itself) is not: its
 * failures (a bad recipe, a refused grant, a failing command) fail again.
 */
export const TRANSIENT_PHASES = ['SUBMITTED', 'QUEUED', 'PROVISIONING', 'DOWNLOAD_SOURCE', 'INSTALL'];

/** StartBuild refusals that pass (too many builds at once, throttling): retried by Step Functions. */
export const TRANSIENT_API_ERRORS = ['CodeBuild.AccountLimitExceededException', 'CodeBuild.ThrottlingException'];

export interface ImageBuildPipelineProps {
  /** One project per recipe and architecture; every distribution its recipe allows is built, by each. */
  readonly projects: ImageBuildProject[];
  /** Build only these distributions (of those each recipe allows). @default all */
  readonly distributions?: string[];
  /** Runs after the builds (whatever their outcome): retention cleanup. @default none */
  readonly cleanup?: ImageCleanupProject;
  /** Told when a build, the cleanup or the pipeline itself fails. */
  readonly topic: sns.ITopic;
  /** Builds running at the same time. @default 4 */
  readonly maxConcurrency?: number;
  /** Extra attempts of a build that failed for a transient reason (TRANSIENT_PHASES, FAULT, TRANSIENT_API_ERRORS). @default 2 */
  readonly retries?: number;
  /** The wait before the first retry; it doubles for each further one. @default 1 minute */
  readonly retryInterval?: Duration;
  /** Start the pipeline on this schedule. @default no schedule */
  readonly schedule?: events.Schedule;
  /**
   * The execution's time limit.
   * @default what the builds can take: waves of maxConcurrency builds, each the longest build timeout times its attempts (with the waits), then the cleanup's timeout, plus 30 minutes
   */
  readonly timeout?: Duration;
  /** How long execution logs are kept. @default THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
  /** The state machine's name. @default a name CloudFormation generates */
  readonly stateMachineName?: string;
}

/**
 * A Step Functions state machine that builds every recipe x distribution x architecture in
 * parallel: a Map over the builds, each a `codebuild:startBuild.sync` (RUN_JOB) of the
 * project of the recipe's architecture (arm64 on ARM compute) with DISTRIBUTION and the
 * build's own cache place overridden, bounded
 * concurrency; a build that failed for a transient reason is retried, any failure is
 * recorded in a few fields (never the whole build description) and does not stop the
 * others. Then the retention cleanup build; then, when anything failed, a notification to
 * the topic and a failed execution.
 */
export class ImageBuildPipeline extends Construct {
  readonly stateMachine: sfn.StateMachine;
  /** What one execution builds. */
  readonly builds: PipelineBuild[];
  readonly schedule?: events.Rule;
  /** The execution's time limit. */
  readonly timeout: Duration;

  constructor(scope: Construct, id: string, props: ImageBuildPipelineProps) {
    super(scope, id);
    const maxConcurrency = props.maxConcurrency ?? 4;
    const retries = props.retries ?? 2;
    const interval = props.retryInterval ?? Duration.minutes(1);
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) throw invalidProps(this, 'MaxConcurrency', 'maxConcurrency must be a positive integer');
    if (!Number.isInteger(retries) || retries < 0) throw invalidProps(this, 'Retries', 'retries must be a non-negative integer');
    const delays = Array.from({ length: retries }, (_, i) => Math.max(1, interval.toSeconds()) * 2 ** i);

    const planned = props.projects.flatMap((p) =>
      p.recipe.distributions
        .filter((d) => !props.distributions || props.distributions.includes(d))
        .map((distribution) => ({ project: p, name: p.recipe.name, distribution, architecture: p.architecture })));
    if (planned.length === 0) throw invalidProps(this, 'NoBuilds', 'no recipe allows any of the selected distributions');
    this.builds = planned.map(({ name, distribution, architecture }) => ({ name, distribution, architecture }));

    const plan = new sfn.Pass(this, 'Plan', {
      comment: 'Every recipe x distribution x architecture this pipeline builds',
      result: sfn.Result.fromArray(planned.map(({ project, name, distribution, architecture }) => ({
        name,
        distribution,
        architecture,
        project: project.project.projectName,
        cache: project.cacheLocation ? { Type: 'S3', Location: project.cacheLocation(distribution) } : { Type: 'NO_CACHE' },
        delays,
        retry: { attempt: 0, wait: 0 },
      }))),
      resultPath: '$.builds',
    });

    const built = new sfn.Pass(this, 'Built', {
      parameters: {
        'name.$': '$.name',
        'distribution.$': '$.distribution',
        'architecture.$': '$.architecture',
        'buildId.$': '$.build.buildId',
        status: 'SUCCEEDED',
      },
    });
    const failed = new sfn.Pass(this, 'BuildFailed', {
      comment: 'A failed build in a few fields (the build description itself can be large)',
      parameters: {
        'name.$': '$.name',
        'distribution.$': '$.distribution',
        'architecture.$': '$.architecture',
        status: 'FAILED',
        'error.$': '$.failure.error',
        'buildId.$': '$.failure.buildId',
        'buildStatus.$': '$.failure.buildStatus',
        'failedPhases.$': '$.failure.phases',
        'attempts.$': 'States.MathAdd($.retry.attempt, 1)',
      },
    });

    const build = new sfn.CustomState(this, 'Build', {
      stateJson: {
        Type: 'Task',
        Comment: 'codebuild:startBuild.sync of the project of the recipe\'s architecture: its distribution and its own cache place',
        Resource: `arn:${Stack.of(this).partition}:states:::codebuild:startBuild.sync`,
        Parameters: {
          'ProjectName.$': '$.project',
          // RUN_STARTED: every build of one execution takes its timestamp from the execution's
          // start (the buildspec formats it), so the architectures of a recipe land in one slot
          // time and the publish store can put their image index under the usual tag.
          EnvironmentVariablesOverride: [
            { Name: 'DISTRIBUTION', Type: 'PLAINTEXT', 'Value.$': '$.distribution' },
            { Name: 'RUN_STARTED', Type: 'PLAINTEXT', 'Value.$': '$$.Execution.StartTime' },
          ],
          'CacheOverride.$': '$.cache',
        },
        ResultSelector: { 'buildId.$': '$.Build.Id', 'status.$': '$.Build.BuildStatus' },
        ResultPath: '$.build',
      },
    });
    if (retries > 0) {
      build.addRetry({ errors: TRANSIENT_API_ERRORS, maxAttempts: retries, interval, backoffRate: 2 });
    }

    // The failure, read from the error's cause (the build as JSON) into a few fields.
    const unknownFailure = new sfn.Pass(this, 'FailureWithoutBuild', {
      parameters: { 'error.$': '$.error.Error', buildId: 'none', buildStatus: 'UNKNOWN', phases: [] },
      resultPath: '$.failure',
    });
    const fromBuild = new sfn.Pass(this, 'FailureOfBuild', {
      parameters: {
        'error.$': '$.error.Error',
        'buildId.$': '$.failure.Build.Id',
        'buildStatus.$': '$.failure.Build.BuildStatus',
        'phases.$': "$.failure.Build.Phases[?(@.PhaseStatus == 'FAILED')].PhaseType",
      },
      resultPath: '$.failure',
    });
    const parse = new sfn.Pass(this, 'ParseFailure', {
      parameters: { 'Build.$': 'States.StringToJson($.error.Cause)' },
      resultPath: '$.failure',
    });
    const nextAttempt = new sfn.Pass(this, 'NextAttempt', {
      parameters: {
        'attempt.$': 'States.MathAdd($.retry.attempt, 1)',
        'wait.$': 'States.ArrayGetItem($.delays, $.retry.attempt)',
      },
      resultPath: '$.retry',
    });
    const wait = new sfn.Wait(this, 'WaitToRetry', { time: sfn.WaitTime.secondsPath('$.retry.wait') });
    nextAttempt.next(wait).next(build);
    const transientPhase = new sfn.Choice(this, 'FailedInTransientPhase')
      .when(sfn.Condition.or(...TRANSIENT_PHASES.map((phase) => sfn.Condition.stringEquals('$.failure.phases[0]', phase))), nextAttempt)
      .otherwise(failed);
    const transient = new sfn.Choice(this, 'Transient')
      .when(sfn.Condition.numberGreaterThanEquals('$.retry.attempt', retries), failed)
      .when(sfn.Condition.stringEquals('$.failure.buildStatus', 'FAULT'), nextAttempt)
      .when(sfn.Condition.isPresent('$.failure.phases[0]'), transientPhase)
      .otherwise(failed);
    unknownFailure.next(transient);
    const isBuild = (path: string) => sfn.Condition.and(
      ...['Id', 'BuildStatus', 'Phases'].map((field) => sfn.Condition.isPresent(`${path}.${field}`)));
    const buildShape = new sfn.Choice(this, 'CauseIsBuild')
      .when(isBuild('$.failure.Build.Build'), new sfn.Pass(this, 'UnwrapBuild', {
        parameters: { 'Build.$': '$.failure.Build.Build' },
        resultPath: '$.failure',
      }).next(fromBuild))
      .when(isBuild('$.failure.Build'), fromBuild)
      .otherwise(unknownFailure);
    fromBuild.next(transient);
    parse.next(buildShape);
    const readFailure = new sfn.Choice(this, 'ReadFailure')
      .when(sfn.Condition.and(sfn.Condition.isPresent('$.error.Cause'), sfn.Condition.stringMatches('$.error.Cause', '{*')), parse)
      .otherwise(unknownFailure);
    build.addCatch(readFailure, { resultPath: '$.error' });
    build.next(built);

    const buildAll = new sfn.Map(this, 'BuildAll', {
      comment: 'Build every recipe x distribution x architecture in parallel',
      itemsPath: '$.builds',
      maxConcurrency,
      resultPath: '$.results',
    });
    buildAll.itemProcessor(build);

    const fail = new sfn.Fail(this, 'PipelineFailed', { error: 'ImageBuildFailed', cause: 'see the notification and the build logs' });
    const notifyError = new tasks.SnsPublish(this, 'NotifyError', {
      topic: props.topic,
      subject: 'tailor-image pipeline failed',
      message: sfn.TaskInput.fromObject({
        execution: sfn.JsonPath.executionId,
        error: sfn.JsonPath.stringAt('$.error.Error'),
      }),
      resultPath: sfn.JsonPath.DISCARD,
    }).next(fail);
    const notifyFailures = new tasks.SnsPublish(this, 'NotifyBuildFailures', {
      topic: props.topic,
      subject: 'tailor-image builds failed',
      message: sfn.TaskInput.fromObject({
        execution: sfn.JsonPath.executionId,
        failed: sfn.JsonPath.listAt('$.check.failed'),
      }),
      resultPath: sfn.JsonPath.DISCARD,
    }).next(fail);
    buildAll.addCatch(notifyError, { resultPath: '$.error' });

    const check = new sfn.Pass(this, 'CollectFailures', {
      parameters: { 'failed.$': "$.results[?(@.status == 'FAILED')]" },
      resultPath: '$.check',
    });
    const verdict = new sfn.Choice(this, 'AnyBuildFailed')
      .when(sfn.Condition.isPresent('$.check.failed[0]'), notifyFailures)
      .otherwise(new sfn.Succeed(this, 'AllBuilt'));

    let afterBuilds: sfn.IChainable = check;
    if (props.cleanup) {
      const cleanup = new tasks.CodeBuildStartBuild(this, 'Cleanup', {
        project: props.cleanup.project,
        integrationPattern: sfn.IntegrationPattern.RUN_JOB,
        resultPath: sfn.JsonPath.DISCARD,
      });
      if (retries > 0) cleanup.addRetry({ errors: TRANSIENT_API_ERRORS, maxAttempts: retries, interval, backoffRate: 2 });
      cleanup.addCatch(notifyError, { resultPath: '$.error' });
      afterBuilds = cleanup.next(check);
    }

    const waves = Math.ceil(planned.length / maxConcurrency);
    const longest = Math.max(...props.projects.map((p) => p.timeout.toMinutes()));
    const waits = delays.reduce((sum, seconds) => sum + seconds, 0) / 60;
    this.timeout = props.timeout ?? Duration.minutes(
      Math.ceil(waves * (longest * (retries + 1) + waits) + (props.cleanup ? props.cleanup.timeout.toMinutes() * (retries + 1) : 0) + 30),
    );

    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: props.stateMachineName,
      comment: 'tailor-image: build every recipe x distribution x architecture, then clean up',
      definitionBody: sfn.DefinitionBody.fromChainable(plan.next(buildAll).next(afterBuilds).next(verdict)),
      stateMachineType: sfn.StateMachineType.STANDARD,
      timeout: this.timeout,
      tracingEnabled: true,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
    });
    // What codebuild:startBuild.sync needs (tasks.CodeBuildStartBuild grants the same).
    this.stateMachine.addToRolePolicy(new iam.PolicyStatement({
      actions: ['codebuild:StartBuild', 'codebuild:StopBuild', 'codebuild:BatchGetBuilds', 'codebuild:BatchGetReports'],
      resources: props.projects.map((p) => p.project.projectArn),
    }));
    this.stateMachine.addToRolePolicy(new iam.PolicyStatement({
      actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
      resources: [Stack.of(this).formatArn({ service: 'events', resource: 'rule/StepFunctionsGetEventForCodeBuildStartBuildRule' })],
    }));
    props.topic.masterKey?.grant(this.stateMachine, 'kms:Decrypt', 'kms:GenerateDataKey');
    acknowledgeWildcards(this.stateMachine.role, { resources: ['*'] },
      'X-Ray tracing and CloudWatch Logs delivery (logs:*LogDelivery) have no resource-level permissions.');

    if (props.schedule) {
      this.schedule = new events.Rule(this, 'Schedule', {
        description: 'tailor-image: scheduled image builds',
        schedule: props.schedule,
        targets: [new targets.SfnStateMachine(this.stateMachine)],
      });
    }
  }

  /** Starting the pipeline and following its executions (what `trigger --all` does). */
  grantStartExecution(grantee: iam.IGrantable): iam.Grant {
    this.stateMachine.grantRead(grantee);
    return this.stateMachine.grantStartExecution(grantee);
  }

  /** Executions that failed: one or more builds, the cleanup, or the pipeline itself. */
  metricFailedExecutions(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.stateMachine.metricFailed({ statistic: 'Sum', ...props });
  }
}
