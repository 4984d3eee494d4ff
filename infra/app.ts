import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { lambdaFunctions, prebuildAssets } from './bundling';
import { configFromContext } from './config';
import { StorageStack } from './stack';

/**
 * `npx cdk synth|deploy -c storage:jwtIssuer=... -c storage:jwtAudience=...` (docs/deploy.md lists
 * every key). cdk-nag's AwsSolutions pack runs on every synth: an unsuppressed finding fails it.
 */
const app = new App();
const config = configFromContext((key) => app.node.tryGetContext(key));
// Every function's asset built at once, in this process, before CDK bundles them one by one.
await prebuildAssets(app.outdir, lambdaFunctions);
new StorageStack(app, app.node.tryGetContext('storage:stackName') ?? 'StorageService', {
  config,
  description: 'Unified file storage: HTTP API, Lambda, DynamoDB, S3',
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
