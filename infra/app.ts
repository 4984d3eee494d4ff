import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { lambdaFunctions, PRE_TOKEN_FUNCTION, prebuildAssets } from './bundling';
import { configFromContext } from './config';
import { StorageStack } from './stack';
import { prebuildUi } from './ui-build';

/**
 * `npx cdk synth|deploy`: with no options the stack creates its own Cognito user pool; with
 * `-c storage:jwtIssuer=... -c storage:jwtAudience=...` it trusts that issuer instead
 * (docs/deploy.md lists every key). cdk-nag's AwsSolutions pack runs on every synth: an
 * unsuppressed finding fails it.
 */
const app = new App();
const config = configFromContext((key) => app.node.tryGetContext(key));
// `cdk ls` and other commands that bundle nothing pass an empty list: no build needed then.
const bundling = app.node.tryGetContext('aws:cdk:bundling-stacks');
if (!Array.isArray(bundling) || bundling.length > 0) {
  // Every asset built at once, in this process, before CDK bundles them one by one.
  await Promise.all([
    prebuildAssets(app.outdir, config.jwtIssuer ? lambdaFunctions : [...lambdaFunctions, PRE_TOKEN_FUNCTION]),
    prebuildUi(app.outdir),
  ]);
}
new StorageStack(app, app.node.tryGetContext('storage:stackName') ?? 'StorageService', {
  config,
  description: 'Unified file storage: HTTP API, Lambda, DynamoDB, S3, admin UI',
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
