import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { acknowledgeWildcards } from './nag';

/**
 * A secret a build reads (the image user's password hash, the org repository's key).
 * CodeBuild resolves it into an environment variable when the build starts, so the
 * value never appears in the project definition, on a command line or in a log.
 */
export abstract class BuildSecret {
  /** A Secrets Manager secret (optionally one JSON field of it). */
  static fromSecretsManager(secret: secretsmanager.ISecret, jsonField?: string): BuildSecret {
    return new SecretsManagerSecret(secret, jsonField);
  }

  /** An SSM parameter (a SecureString, typically). */
  static fromSsmParameter(parameter: ssm.IParameter): BuildSecret {
    return new SsmSecret(parameter);
  }

  /** The CodeBuild environment variable that carries the secret. */
  abstract environmentVariable(): codebuild.BuildEnvironmentVariable;

  /** Lets the build read the secret (and nothing else). */
  abstract grantRead(grantee: iam.IGrantable): void;
}

class SecretsManagerSecret extends BuildSecret {
  constructor(private readonly secret: secretsmanager.ISecret, private readonly jsonField?: string) {
    super();
  }
  environmentVariable(): codebuild.BuildEnvironmentVariable {
    const value = this.jsonField ? `${this.secret.secretArn}:${this.jsonField}` : this.secret.secretArn;
    return { type: codebuild.BuildEnvironmentVariableType.SECRETS_MANAGER, value };
  }
  grantRead(grantee: iam.IGrantable): void {
    this.secret.grantRead(grantee);
    if (this.secret.secretFullArn === undefined && Construct.isConstruct(grantee)) {
      // Known by name only: IAM must match the random suffix Secrets Manager appends.
      acknowledgeWildcards(grantee, { resources: [`${this.secret.secretArn}*`] },
        'The secret was given by name; its ARN ends in a random suffix that only a wildcard can match.');
    }
  }
}

class SsmSecret extends BuildSecret {
  constructor(private readonly parameter: ssm.IParameter) {
    super();
  }
  environmentVariable(): codebuild.BuildEnvironmentVariable {
    return { type: codebuild.BuildEnvironmentVariableType.PARAMETER_STORE, value: this.parameter.parameterName };
  }
  grantRead(grantee: iam.IGrantable): void {
    this.parameter.grantRead(grantee);
  }
}
