import { Stack, Validations } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/**
 * Acknowledges a cdk-nag AwsSolutions finding on a construct (and everything under it),
 * with the reason it is accepted. Rule ids are the full ids cdk-nag reports, including a
 * finding's suffix for IAM5 (`AwsSolutions-IAM5[Action::s3:GetObject*]`).
 */
export function acknowledge(scope: IConstruct, rule: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: rule, reason });
}

/**
 * Acknowledges IAM5 (wildcard) findings for the given actions and resources, written
 * as cdk-nag writes them: the resource ARN with references flattened to
 * `<LogicalId.Attribute>` / `<LogicalId>`.
 */
export function acknowledgeWildcards(
  scope: IConstruct,
  findings: { actions?: string[]; resources?: string[] },
  reason: string,
): void {
  const stack = Stack.of(scope);
  for (const action of findings.actions ?? []) {
    acknowledge(scope, `AwsSolutions-IAM5[Action::${action}]`, reason);
  }
  for (const resource of findings.resources ?? []) {
    acknowledge(scope, `AwsSolutions-IAM5[Resource::${flatten(stack.resolve(resource))}]`, reason);
  }
}

/** The flattening cdk-nag applies to a CloudFormation value before naming a finding. */
function flatten(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\${/g, '<').replace(/}/g, '>');
  const value = node as Record<string, unknown>;
  if (value['Fn::Join']) {
    const [delimiter, items] = value['Fn::Join'] as [string, unknown[]];
    return items.map(flatten).join(delimiter);
  }
  if (value['Fn::Sub']) return flatten(value['Fn::Sub']);
  if (value['Fn::GetAtt']) {
    const [resource, attribute] = value['Fn::GetAtt'] as [unknown, unknown];
    return `<${flatten(resource)}.${flatten(attribute)}>`;
  }
  if (value['Fn::ImportValue']) return flatten(value['Fn::ImportValue']);
  if (value.Ref) return `<${flatten(value.Ref)}>`;
  return JSON.stringify(node);
}
