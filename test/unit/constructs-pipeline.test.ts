import { Duration, Errors } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as sns from 'aws-cdk-lib/aws-sns';
import { RecipeSource } from '../../lib/constructs';
import { factoryStack, standardCatalog, stateMachineDefinition } from './constructs-helpers';

const catalog = standardCatalog();

describe('ImageBuildPipeline', () => {
  const { factory, resources, idOf } = factoryStack({ recipes: RecipeSource.directory(catalog) });
  const machine = resources[idOf(factory.pipeline.stateMachine)];
  const definition = stateMachineDefinition(machine.Properties.DefinitionString);
  const map = definition.States.BuildAll;
  const processor = map.ItemProcessor;

  test('plans every recipe x distribution', () => {
    const plan = definition.States[definition.StartAt];
    expect(plan.Type).toBe('Pass');
    expect(plan.ResultPath).toBe('$.builds');
    const builds = plan.Result.map((b: { name: string; distribution: string }) => `${b.name}/${b.distribution}`).sort();
    expect(builds).toEqual([
      'dev-env/bookworm', 'dev-env/jammy', 'dev-env/noble',
      'webapp/bookworm', 'webapp/jammy', 'webapp/noble',
      'wrangler/bookworm', 'wrangler/jammy', 'wrangler/noble',
    ]);
    expect(factory.pipeline.builds).toHaveLength(9);
  });

  test('a Map with bounded concurrency over the planned builds', () => {
    expect(map.Type).toBe('Map');
    expect(map.ItemsPath).toBe('$.builds');
    expect(map.MaxConcurrency).toBe(4);
  });

  test('each build is codebuild:startBuild.sync of its recipe\'s project with DISTRIBUTION and its own cache place', () => {
    const plan = definition.States[definition.StartAt].Result as Array<Record<string, any>>;
    for (const item of plan) {
      expect(item.project).toBe(`<Ref:${idOf(factory.projects[item.name].project)}>`);
      // One cache per recipe x distribution: the distributions of a recipe, built at once, never share one.
      expect(item.cache).toEqual({ Type: 'S3', Location: `<Ref:${idOf(factory.cacheBucket)}>/${item.name}/${item.distribution}` });
      expect(item.retry).toEqual({ attempt: 0, wait: 0 });
      expect(item.delays).toEqual([60, 120]);
    }
    expect(new Set(plan.map((i) => i.cache.Location)).size).toBe(plan.length);
    const task = processor.States[processor.StartAt];
    expect(task.Type).toBe('Task');
    expect(task.Resource).toBe('arn:<Ref:AWS::Partition>:states:::codebuild:startBuild.sync');
    expect(task.Parameters).toEqual({
      'ProjectName.$': '$.project',
      EnvironmentVariablesOverride: [
        { Name: 'DISTRIBUTION', Type: 'PLAINTEXT', 'Value.$': '$.distribution' },
        // One timestamp per execution: the buildspec formats the start time (see the buildspec test).
        { Name: 'RUN_STARTED', Type: 'PLAINTEXT', 'Value.$': '$$.Execution.StartTime' },
      ],
      'CacheOverride.$': '$.cache',
    });
    expect(task.Next).toBe('Built');
    expect(processor.States.Built.Parameters.status).toBe('SUCCEEDED');
  });

  test('only transient failures are retried: StartBuild refusals that pass, and builds that never ran the recipe', () => {
    const task = processor.States[processor.StartAt];
    // Step Functions retries the API's passing refusals only, never "the build failed".
    expect(task.Retry).toEqual([expect.objectContaining({
      ErrorEquals: ['CodeBuild.AccountLimitExceededException', 'CodeBuild.ThrottlingException'], MaxAttempts: 2, BackoffRate: 2,
    })]);
    expect(task.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'ReadFailure' }]);
    // A failed build is read, then judged: out of attempts -> failed; FAULT or a failure before BUILD -> wait, retry.
    const transient = processor.States.Transient;
    expect(transient.Choices).toEqual([
      { Variable: '$.retry.attempt', NumericGreaterThanEquals: 2, Next: 'BuildFailed' },
      { Variable: '$.failure.buildStatus', StringEquals: 'FAULT', Next: 'NextAttempt' },
      { Variable: '$.failure.phases[0]', IsPresent: true, Next: 'FailedInTransientPhase' },
    ]);
    expect(transient.Default).toBe('BuildFailed');
    const phases = processor.States.FailedInTransientPhase.Choices[0].Or.map((c: { StringEquals: string }) => c.StringEquals);
    expect(phases).toEqual(['SUBMITTED', 'QUEUED', 'PROVISIONING', 'DOWNLOAD_SOURCE', 'INSTALL']);
    expect(phases).not.toContain('BUILD');
    expect(processor.States.NextAttempt.Next).toBe('WaitToRetry');
    expect(processor.States.WaitToRetry).toEqual({ Type: 'Wait', SecondsPath: '$.retry.wait', Next: processor.StartAt });
  });

  test('a failure is recorded in a few fields, never the whole build description', () => {
    const read = processor.States.ReadFailure;
    expect(read.Choices[0].Next).toBe('ParseFailure');
    expect(processor.States.ParseFailure.Parameters).toEqual({ 'Build.$': 'States.StringToJson($.error.Cause)' });
    expect(processor.States.FailureOfBuild.Parameters).toEqual({
      'error.$': '$.error.Error',
      'buildId.$': '$.failure.Build.Id',
      'buildStatus.$': '$.failure.Build.BuildStatus',
      'phases.$': "$.failure.Build.Phases[?(@.PhaseStatus == 'FAILED')].PhaseType",
    });
    const failed = processor.States.BuildFailed;
    expect(failed.Parameters).toEqual({
      'name.$': '$.name',
      'distribution.$': '$.distribution',
      'architecture.$': '$.architecture',
      status: 'FAILED',
      'error.$': '$.failure.error',
      'buildId.$': '$.failure.buildId',
      'buildStatus.$': '$.failure.buildStatus',
      'failedPhases.$': '$.failure.phases',
      'attempts.$': 'States.MathAdd($.retry.attempt, 1)',
    });
    // Nothing that reaches the Map's results or a notification carries a Cause.
    expect(JSON.stringify(failed)).not.toContain('Cause');
    expect(JSON.stringify(definition.States.NotifyError.Parameters)).not.toContain('Cause');
    expect(JSON.stringify(definition.States.NotifyBuildFailures.Parameters)).not.toContain('Cause');
  });

  test('then the retention cleanup build, then a verdict that notifies the topic on failure', () => {
    expect(map.Next).toBe('Cleanup');
    const cleanup = definition.States.Cleanup;
    expect(cleanup.Resource).toBe('arn:<Ref:AWS::Partition>:states:::codebuild:startBuild.sync');
    expect(cleanup.Parameters.ProjectName).toBe(`<Ref:${idOf(factory.cleanup.project)}>`);
    expect(cleanup.Catch[0].Next).toBe('NotifyError');
    expect(definition.States[cleanup.Next].Parameters['failed.$']).toBe("$.results[?(@.status == 'FAILED')]");
    const verdict = definition.States.AnyBuildFailed;
    expect(verdict.Choices).toEqual([{ Variable: '$.check.failed[0]', IsPresent: true, Next: 'NotifyBuildFailures' }]);
    expect(definition.States[verdict.Default].Type).toBe('Succeed');
    for (const notify of ['NotifyBuildFailures', 'NotifyError']) {
      const state = definition.States[notify];
      expect(state.Resource).toBe('arn:<Ref:AWS::Partition>:states:::sns:publish');
      expect(state.Parameters.TopicArn).toBe(`<Ref:${idOf(factory.topic as sns.Topic)}>`);
      expect(definition.States[state.Next].Type).toBe('Fail');
    }
    expect(map.Catch[0].Next).toBe('NotifyError');
  });

  test('the cleanup project runs cleanup_images with the retention policy', () => {
    const cleanup = resources[idOf(factory.cleanup.project)].Properties;
    const env = Object.fromEntries(cleanup.Environment.EnvironmentVariables.map((v: { Name: string; Value: unknown }) => [v.Name, v.Value]));
    expect(env.NUM_TO_KEEP).toBe('10');
    expect(env.DAYS_TO_KEEP).toBe('');
    expect(env.RELEASE_LABEL).toBe('hotdog');
    expect(JSON.parse(cleanup.Source.BuildSpec).phases.build.commands[0]).toContain('node cleanup_images.js');
    expect(cleanup.Name).toBe('Factory_cleanup');
  });

  test('a standard state machine with full logging, X-Ray tracing, named after the factory', () => {
    expect(machine.Properties.StateMachineType).toBe('STANDARD');
    expect(machine.Properties.TracingConfiguration).toEqual({ Enabled: true });
    expect(machine.Properties.LoggingConfiguration.Level).toBe('ALL');
    expect(machine.Properties.LoggingConfiguration.IncludeExecutionData).toBe(true);
    expect(machine.Properties.StateMachineName).toBe('Factory-pipeline');
  });

  test('the time limit grows with the builds: waves of maxConcurrency, each build with its retries, then the cleanup', () => {
    // 9 builds, 4 at a time: 3 waves of (120 min x 3 attempts + 3 min of waits), cleanup 30 min x 3, 30 min margin.
    expect(definition.TimeoutSeconds).toBe((3 * (120 * 3 + 3) + 30 * 3 + 30) * 60);
    const few = factoryStack({ recipes: RecipeSource.directory(catalog), images: ['webapp'], distributions: ['noble'], retries: 0 });
    expect(few.factory.pipeline.timeout.toMinutes()).toBe(120 + 30 + 30);
    const serial = factoryStack({ recipes: RecipeSource.directory(catalog), maxConcurrency: 1, retries: 0, buildTimeout: Duration.minutes(60) });
    expect(serial.factory.pipeline.timeout.toMinutes()).toBe(9 * 60 + 30 + 30);
    const given = factoryStack({ recipes: RecipeSource.directory(catalog), pipelineTimeout: Duration.hours(30), retries: 1 });
    const givenDefinition = stateMachineDefinition(given.resources[given.idOf(given.factory.pipeline.stateMachine)].Properties.DefinitionString);
    expect(givenDefinition.TimeoutSeconds).toBe(30 * 3600);
    expect(givenDefinition.States.BuildAll.ItemProcessor.States.Build.Retry[0].MaxAttempts).toBe(1);
    expect(givenDefinition.States.BuildAll.ItemProcessor.States.Transient.Choices[0].NumericGreaterThanEquals).toBe(1);
  });

  test('the state machine may start and follow the builds, and publish with the topic\'s KMS key', () => {
    const policy = Object.values(resources).find((r) => r.Type === 'AWS::IAM::Policy'
      && r.Properties.Roles.some((role: { Ref: string }) => role.Ref === idOf(factory.pipeline.stateMachine.role)))!;
    const text = JSON.stringify(policy.Properties.PolicyDocument.Statement);
    expect(text).toContain('codebuild:StartBuild');
    expect(text).toContain('codebuild:BatchGetBuilds');
    expect(text).toContain('StepFunctionsGetEventForCodeBuildStartBuildRule');
    expect(text).toContain('sns:Publish');
    expect(text).toContain('kms:GenerateDataKey');
  });

  test('the topic it made is KMS-encrypted (key rotation on) and TLS-only', () => {
    const topic = resources[idOf(factory.topic as sns.Topic)];
    const keyId = topic.Properties.KmsMasterKeyId['Fn::GetAtt'][0];
    expect(resources[keyId].Properties.EnableKeyRotation).toBe(true);
    const policy = Object.values(resources).find((r) => r.Type === 'AWS::SNS::TopicPolicy')!;
    expect(JSON.stringify(policy.Properties.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
  });

  test('no schedule unless asked', () => {
    expect(Object.values(resources).filter((r) => r.Type === 'AWS::Events::Rule')).toEqual([]);
  });
});

describe('ImageBuildPipeline options', () => {
  test('a schedule, a distribution filter, concurrency, retention and a given topic', () => {
    const { factory, resources, idOf } = factoryStack((stack) => ({
      recipes: RecipeSource.directory(catalog),
      images: ['webapp', 'wrangler'],
      distributions: ['noble', 'bookworm'],
      schedule: events.Schedule.expression('cron(0 3 ? * MON *)'),
      maxConcurrency: 2,
      numToKeep: 3,
      daysToKeep: 30,
      notificationTopic: new sns.Topic(stack, 'Ops', { enforceSSL: true }),
    }));
    expect(factory.pipeline.builds.map((b) => `${b.name}/${b.distribution}`).sort()).toEqual([
      'webapp/bookworm', 'webapp/noble', 'wrangler/bookworm', 'wrangler/noble',
    ]);
    const definition = stateMachineDefinition(resources[idOf(factory.pipeline.stateMachine)].Properties.DefinitionString);
    expect(definition.States.BuildAll.MaxConcurrency).toBe(2);
    const rule = Object.values(resources).find((r) => r.Type === 'AWS::Events::Rule')!;
    expect(rule.Properties.ScheduleExpression).toBe('cron(0 3 ? * MON *)');
    expect(rule.Properties.Targets[0].Arn).toEqual({ Ref: idOf(factory.pipeline.stateMachine) });
    expect(Object.values(resources).filter((r) => r.Type === 'AWS::SNS::Topic')).toHaveLength(1);
    expect(definition.States.NotifyError.Parameters.TopicArn).toBe(`<Ref:${idOf(factory.topic as sns.Topic)}>`);
    const env = Object.fromEntries(resources[idOf(factory.cleanup.project)].Properties.Environment.EnvironmentVariables
      .map((v: { Name: string; Value: unknown }) => [v.Name, v.Value]));
    expect(env.NUM_TO_KEEP).toBe('3');
    expect(env.DAYS_TO_KEEP).toBe('30');
    expect(JSON.stringify(resources[idOf(factory.projects.webapp.project)].Properties.Environment.EnvironmentVariables))
      .toContain('"Name":"DISTRIBUTIONS","Type":"PLAINTEXT","Value":"noble bookworm"');
  });

  test('bad settings are refused at synth with CDK\'s validation error, naming the construct', () => {
    const refusal = (props: Parameters<typeof factoryStack>[0]) => {
      try {
        factoryStack(props);
      } catch (error) {
        expect(Errors.isValidationError(error)).toBe(true);
        return `${(error as { constructPath: string }).constructPath}: ${(error as Error).message}`;
      }
      throw new Error('not refused');
    };
    expect(refusal({ recipes: RecipeSource.directory(catalog), images: ['nope'] }))
      .toMatch(/^Factory\/Factory: unknown image\(s\) nope in /);
    expect(refusal({ recipes: RecipeSource.directory(catalog), distributions: ['focal'] }))
      .toBe('Factory/Factory: no recipe allows any of the selected distributions and architectures');
    expect(refusal({ recipes: RecipeSource.directory(catalog), maxConcurrency: 0 }))
      .toBe('Factory/Factory/Pipeline: maxConcurrency must be a positive integer');
    expect(refusal({ recipes: RecipeSource.directory(catalog), retries: -1 }))
      .toBe('Factory/Factory/Pipeline: retries must be a non-negative integer');
    expect(refusal({ recipes: RecipeSource.directory(catalog), numToKeep: 0 }))
      .toBe('Factory/Factory/Cleanup: numToKeep must be a positive integer');
    expect(refusal({ recipes: RecipeSource.directory(catalog), releaseLabels: ['a/b'] }))
      .toBe('Factory/Factory/Build-dev-env: release label "a/b" may only hold letters, digits, ".", "+" and "-"');
    expect(refusal({ recipes: RecipeSource.directory(catalog), factoryName: 'no_underscore' }))
      .toBe('Factory/Factory: factoryName "no_underscore" must be a letter, then up to 62 letters, digits or "-"');
  });
});
