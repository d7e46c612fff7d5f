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

  test('each build is codebuild:startBuild.sync of its recipe\'s project with DISTRIBUTION overridden, retried, failures caught', () => {
    const choice = processor.States[processor.StartAt];
    expect(choice.Type).toBe('Choice');
    for (const name of ['webapp', 'wrangler', 'dev-env']) {
      const branch = choice.Choices.find((c: { StringEquals: string }) => c.StringEquals === name);
      expect(branch.Variable).toBe('$.name');
      const task = processor.States[branch.Next];
      expect(task.Resource).toBe('arn:<Ref:AWS::Partition>:states:::codebuild:startBuild.sync');
      expect(task.Parameters.ProjectName).toBe(`<Ref:${idOf(factory.projects[name].project)}>`);
      expect(task.Parameters.EnvironmentVariablesOverride).toEqual([
        { Name: 'DISTRIBUTION', Type: 'PLAINTEXT', 'Value.$': '$.distribution' },
      ]);
      expect(task.Retry).toEqual([expect.objectContaining({ ErrorEquals: ['States.ALL'], MaxAttempts: 1, BackoffRate: 2 })]);
      expect(task.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'BuildFailed' }]);
      expect(task.Next).toBe('Built');
    }
    expect(processor.States.BuildFailed.Parameters.status).toBe('FAILED');
    expect(processor.States.Built.Parameters.status).toBe('SUCCEEDED');
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
    expect(cleanup.Name).toBe('tailor-image_cleanup');
  });

  test('a standard state machine with full logging, X-Ray tracing and a timeout', () => {
    expect(machine.Properties.StateMachineType).toBe('STANDARD');
    expect(machine.Properties.TracingConfiguration).toEqual({ Enabled: true });
    expect(machine.Properties.LoggingConfiguration.Level).toBe('ALL');
    expect(machine.Properties.LoggingConfiguration.IncludeExecutionData).toBe(true);
    expect(definition.TimeoutSeconds).toBe(12 * 3600);
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

  test('bad settings are refused at synth with one line', () => {
    expect(() => factoryStack({ recipes: RecipeSource.directory(catalog), images: ['nope'] }))
      .toThrow('ImageFactory: unknown image(s) nope');
    expect(() => factoryStack({ recipes: RecipeSource.directory(catalog), distributions: ['focal'] }))
      .toThrow('no recipe allows any of the selected distributions');
    expect(() => factoryStack({ recipes: RecipeSource.directory(catalog), maxConcurrency: 0 }))
      .toThrow('maxConcurrency must be a positive integer');
    expect(() => factoryStack({ recipes: RecipeSource.directory(catalog), numToKeep: 0 }))
      .toThrow('numToKeep must be a positive integer');
  });
});
