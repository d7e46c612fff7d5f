import { randomUUID } from 'node:crypto';
import { FakeJsonService } from './fake-json-service';

/**
 * A stand-in for the Step Functions API on 127.0.0.1, speaking its JSON 1.0 protocol
 * (POST /, X-Amz-Target: AWSStepFunctions.<Operation>). It keeps state machines with their
 * tags and executions; each DescribeExecution of a running execution counts down, then it
 * ends with `outcome` (SUCCEEDED, or FAILED with an error and cause).
 */
export interface FakeStateMachine {
  name: string;
  tags: Record<string, string>;
}

const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';

export class FakeStepFunctions extends FakeJsonService {
  readonly executions = new Map<string, { machine: string; polls: number }>();
  outcome: { status: 'SUCCEEDED' } | { status: 'FAILED'; error: string; cause: string } = { status: 'SUCCEEDED' };
  /** DescribeExecution answers RUNNING this many times first. */
  runningPolls = 3;
  /** Machines per ListStateMachines page, to exercise paging. */
  pageSize = 1;

  constructor(readonly machines: FakeStateMachine[]) {
    super('AWSStepFunctions', 'application/x-amz-json-1.0', 'InvalidArn');
  }

  arnOf(name: string): string {
    return `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${name}`;
  }

  protected answer(operation: string, body: any): unknown {
    switch (operation) {
      case 'ListStateMachines': {
        const start = body.nextToken ? Number(body.nextToken) : 0;
        const page = this.machines.slice(start, start + this.pageSize);
        const next = start + this.pageSize < this.machines.length ? String(start + this.pageSize) : undefined;
        return {
          stateMachines: page.map((m) => ({ name: m.name, stateMachineArn: this.arnOf(m.name), type: 'STANDARD', creationDate: 1764100000 })),
          ...(next ? { nextToken: next } : {}),
        };
      }
      case 'ListTagsForResource': {
        const machine = this.machines.find((m) => this.arnOf(m.name) === body.resourceArn);
        if (!machine) throw new Error(`no state machine ${body.resourceArn}`);
        return { tags: Object.entries(machine.tags).map(([key, value]) => ({ key, value })) };
      }
      case 'StartExecution': {
        const machine = this.machines.find((m) => this.arnOf(m.name) === body.stateMachineArn);
        if (!machine) throw new Error(`no state machine ${body.stateMachineArn}`);
        const executionArn = `arn:aws:states:${REGION}:${ACCOUNT}:execution:${machine.name}:${randomUUID()}`;
        this.executions.set(executionArn, { machine: machine.name, polls: 0 });
        return { executionArn, startDate: 1764100000 };
      }
      case 'DescribeExecution': {
        const execution = this.executions.get(body.executionArn);
        if (!execution) throw new Error(`no execution ${body.executionArn}`);
        execution.polls += 1;
        const running = execution.polls <= this.runningPolls;
        return {
          executionArn: body.executionArn,
          stateMachineArn: this.arnOf(execution.machine),
          startDate: 1764100000,
          ...(running ? { status: 'RUNNING' } : this.outcome),
        };
      }
      default:
        throw new Error(`operation ${operation} is not faked`);
    }
  }
}
