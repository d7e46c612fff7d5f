import { ValidationError } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

type ValidationErrorName = ConstructorParameters<typeof ValidationError>[0];

/**
 * CDK's own validation error for bad props: it carries the construct path
 * (`error.constructPath`), and `Errors.isValidationError()` recognises it. `name` is a
 * short fixed identifier of the rule (e.g. "MissingSecret").
 */
export function invalidProps(scope: IConstruct, name: string, message: string): ValidationError {
  return new ValidationError(name as ValidationErrorName, message, scope);
}
