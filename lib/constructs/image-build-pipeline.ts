import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { ImageBuildProject } from './image-build-project';
import { acknowledgeWildcards } from './nag';

/** One build of the pipeline: a recipe for a distribution. */
export interface PipelineBuild {
  readonly name: string;
  readonly distribution: string;
}

export interface ImageBuildPipelineProps {
  /** One project per recipe; every distribution it allows is built. */
  readonly projects: ImageBuildProject[];
  /** Build only these distributions (of those each recipe allows). @default all */
  readonly distributions?: string[];
  /** Runs after the builds (whatever their outcome): retention cleanup. @default none */
  readonly cleanupProject?: codebuild.IProject;
  /** Told when a build, the cleanup or the pipeline itself fails. */
  readonly topic: sns.ITopic;
  /** Builds running at the same time. @default 4 */
  readonly maxConcurrency?: number;
  /** Extra attempts of a failed build (flaky mirrors). @default 1 */
  readonly retries?: number;
  /** Start the pipeline on this schedule. @default no schedule */
  readonly schedule?: events.Schedule;
  /** @default 12 hours */
  readonly timeout?: Duration;
  /** @default THREE_MONTHS */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * A Step Functions state machine that builds every recipe x distribution in parallel:
 * a Map over the builds, each a `codebuild:startBuild.sync` (RUN_JOB) of the recipe's
 * project with DISTRIBUTION overridden, bounded concurrency, retries; a failed build is
 * recorded and does not stop the others. Then the retention cleanup build; then, when
 * anything failed, a notification to the topic and a failed execution.
 */
export class ImageBuildPipeline extends Construct {
  readonly stateMachine: sfn.StateMachine;
  /** What one execution builds. */
  readonly builds: PipelineBuild[];
  readonly schedule?: events.Rule;

  constructor(scope: Construct, id: string, props: ImageBuildPipelineProps) {
    super(scope, id);
    const maxConcurrency = props.maxConcurrency ?? 4;
    const retries = props.retries ?? 1;
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) throw new Error('ImageBuildPipeline: maxConcurrency must be a positive integer');
    if (!Number.isInteger(retries) || retries < 0) throw new Error('ImageBuildPipeline: retries must be a non-negative integer');

    this.builds = props.projects.flatMap((p) =>
      p.recipe.distributions
        .filter((d) => !props.distributions || props.distributions.includes(d))
        .map((distribution) => ({ name: p.recipe.name, distribution })));
    if (this.builds.length === 0) throw new Error('ImageBuildPipeline: no recipe allows any of the selected distributions');

    const plan = new sfn.Pass(this, 'Plan', {
      comment: 'Every recipe x distribution this pipeline builds',
      result: sfn.Result.fromArray(this.builds.map((b) => ({ ...b }))),
      resultPath: '$.builds',
    });

    const built = new sfn.Pass(this, 'Built', {
      parameters: {
        'name.$': '$.name',
        'distribution.$': '$.distribution',
        'buildId.$': '$.build.buildId',
        status: 'SUCCEEDED',
      },
    });
    const failed = new sfn.Pass(this, 'BuildFailed', {
      parameters: {
        'name.$': '$.name',
        'distribution.$': '$.distribution',
        'cause.$': '$.error.Cause',
        status: 'FAILED',
      },
    });
    const choose = new sfn.Choice(this, 'WhichRecipe');
    for (const p of props.projects) {
      const task = new tasks.CodeBuildStartBuild(this, `Build ${p.recipe.name}`, {
        project: p.project,
        integrationPattern: sfn.IntegrationPattern.RUN_JOB,
        environmentVariablesOverride: {
          DISTRIBUTION: {
            type: codebuild.BuildEnvironmentVariableType.PLAINTEXT,
            value: sfn.JsonPath.stringAt('$.distribution'),
          },
        },
        resultSelector: { 'buildId.$': '$.Build.Id', 'status.$': '$.Build.BuildStatus' },
        resultPath: '$.build',
      });
      if (retries > 0) {
        task.addRetry({ errors: [sfn.Errors.ALL], maxAttempts: retries, interval: Duration.minutes(1), backoffRate: 2 });
      }
      task.addCatch(failed, { resultPath: '$.error' });
      task.next(built);
      choose.when(sfn.Condition.stringEquals('$.name', p.recipe.name), task);
    }
    choose.otherwise(new sfn.Pass(this, 'UnknownRecipe', {
      parameters: {
        'name.$': '$.name',
        'distribution.$': '$.distribution',
        cause: 'no build project for this recipe',
        status: 'FAILED',
      },
    }));

    const buildAll = new sfn.Map(this, 'BuildAll', {
      comment: 'Build every recipe x distribution in parallel',
      itemsPath: '$.builds',
      maxConcurrency,
      resultPath: '$.results',
    });
    buildAll.itemProcessor(choose);

    const fail = new sfn.Fail(this, 'PipelineFailed', { error: 'ImageBuildFailed', cause: 'see the notification and the build logs' });
    const notifyError = new tasks.SnsPublish(this, 'NotifyError', {
      topic: props.topic,
      subject: 'tailor-image pipeline failed',
      message: sfn.TaskInput.fromObject({
        execution: sfn.JsonPath.executionId,
        error: sfn.JsonPath.objectAt('$.error'),
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
    if (props.cleanupProject) {
      const cleanup = new tasks.CodeBuildStartBuild(this, 'Cleanup', {
        project: props.cleanupProject,
        integrationPattern: sfn.IntegrationPattern.RUN_JOB,
        resultPath: sfn.JsonPath.DISCARD,
      });
      cleanup.addRetry({ errors: [sfn.Errors.ALL], maxAttempts: 1, interval: Duration.minutes(1) });
      cleanup.addCatch(notifyError, { resultPath: '$.error' });
      afterBuilds = cleanup.next(check);
    }

    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      comment: 'tailor-image: build every recipe x distribution, then clean up',
      definitionBody: sfn.DefinitionBody.fromChainable(plan.next(buildAll).next(afterBuilds).next(verdict)),
      stateMachineType: sfn.StateMachineType.STANDARD,
      timeout: props.timeout ?? Duration.hours(12),
      tracingEnabled: true,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
    });
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
}
