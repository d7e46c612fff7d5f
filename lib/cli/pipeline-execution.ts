import {
  DescribeExecutionCommand, DescribeExecutionCommandOutput, ListStateMachinesCommand, ListTagsForResourceCommand, SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { InterruptedError, UsageError } from '../core/errors';
import { FACTORY_TAG, pipelineName } from '../core/factory-tags';
import { sdkError, sleep } from './codebuild-builds';

/** A factory's pipeline, found by name and checked by its factory tag. */
export interface FactoryPipeline {
  name: string;
  arn: string;
}

/**
 * The state machine `<factory>-pipeline` (ImageFactory's name for it), refused unless it
 * carries the factory's tag: a name alone does not say whose it is.
 */
export async function findPipeline(client: SFNClient, factory: string): Promise<FactoryPipeline> {
  const name = pipelineName(factory);
  let arn: string | undefined;
  let nextToken: string | undefined;
  do {
    let page;
    try {
      page = await client.send(new ListStateMachinesCommand({ nextToken }));
    } catch (error) {
      throw sdkError('ListStateMachines', error);
    }
    arn = page.stateMachines?.find((machine) => machine.name === name)?.stateMachineArn;
    nextToken = arn ? undefined : page.nextToken;
  } while (nextToken);
  if (!arn) throw new UsageError(`no state machine "${name}" (is the factory "${factory}" deployed, and is --factory right?)`);
  let tags;
  try {
    tags = await client.send(new ListTagsForResourceCommand({ resourceArn: arn }));
  } catch (error) {
    throw sdkError('ListTagsForResource', error);
  }
  const owner = tags.tags?.find((tag) => tag.key === FACTORY_TAG)?.value;
  if (owner !== factory) {
    throw new UsageError(`state machine "${name}" is not factory "${factory}"'s (${owner ? `it is factory "${owner}"'s` : `it has no ${FACTORY_TAG} tag`})`);
  }
  return { name, arn };
}

/** Starts one execution; returns its ARN. */
export async function startPipeline(client: SFNClient, pipeline: FactoryPipeline, signal: AbortSignal): Promise<string> {
  try {
    const started = await client.send(new StartExecutionCommand({ stateMachineArn: pipeline.arn, input: '{}' }), { abortSignal: signal });
    return started.executionArn!;
  } catch (error) {
    throw sdkError(`StartExecution of ${pipeline.name}`, error);
  }
}

export function executionLink(executionArn: string, region: string): string {
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

/** Polls DescribeExecution until the execution ends; reports each status once. */
export async function followExecution(
  client: SFNClient,
  executionArn: string,
  options: { intervalMs: number; signal: AbortSignal; report: (line: string) => void },
): Promise<DescribeExecutionCommandOutput> {
  let reported: string | undefined;
  for (;;) {
    let execution;
    try {
      execution = await client.send(new DescribeExecutionCommand({ executionArn }), { abortSignal: options.signal });
    } catch (error) {
      if (options.signal.aborted) throw new InterruptedError(String(options.signal.reason ?? 'SIGINT'));
      throw sdkError('DescribeExecution', error);
    }
    if (execution.status !== reported) {
      reported = execution.status;
      options.report(`pipeline: ${execution.status}`);
    }
    if (execution.status !== 'RUNNING' && execution.status !== 'PENDING_REDRIVE') return execution;
    await sleep(options.intervalMs, options.signal);
  }
}
