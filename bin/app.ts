#!/usr/bin/env node
// The CDK app: one ImageFactory stack, configured from cdk.json context or a config file
// (see docs/AWS.md), checked by cdk-nag's AwsSolutions rules at every synth.
import { App, Errors, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ImageFactoryStack, readFactoryConfig } from '../lib/constructs/app-config';

const app = new App();
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
try {
  new ImageFactoryStack(app, readFactoryConfig(app), {
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
} catch (error) {
  // A bad setting or recipe: one line, no stack trace; a construct's own check names its path.
  const first = error instanceof Error ? error.message.split('\n')[0] : String(error);
  const message = Errors.isValidationError(error) && error.constructPath ? `${error.constructPath}: ${first}` : first;
  process.stderr.write(`${message.startsWith('tailor-image') ? '' : 'tailor-image: '}${message}\n`);
  process.exit(1);
}
app.synth();
