import { Duration, type RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import {
  type BundlingOptions,
  LogLevel,
  NodejsFunction,
  OutputFormat,
  SourceMapMode,
} from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { accessOf, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_SECONDS } from '../access';
import { functionEntry, lambdaBundle, projectRoot } from '../bundling';

/** infra/bundling.ts's settings in NodejsFunction's terms (the smoke test builds from the same object). */
export function cdkBundling(): BundlingOptions {
  return {
    format: OutputFormat.ESM,
    target: lambdaBundle.target,
    minify: lambdaBundle.minify,
    sourceMap: lambdaBundle.sourcemap,
    sourceMapMode: SourceMapMode.DEFAULT,
    sourcesContent: lambdaBundle.sourcesContent,
    mainFields: [...lambdaBundle.mainFields],
    externalModules: [...lambdaBundle.external],
    banner: lambdaBundle.banner,
    // Only problems, not a size report per function (does not change the output).
    logLevel: LogLevel.WARNING,
  };
}

export interface StorageFunctionProps {
  /** File name in functions/ (the route table's `fn`). */
  fn: string;
  /** More variables; the stack's shared ones are added by grantAccess. */
  environment?: Record<string, string>;
  logRetention: logs.RetentionDays;
  removalPolicy: RemovalPolicy;
  /** Overrides the access table's timeout (the sweeper's follows its schedule). */
  timeout?: Duration;
  reservedConcurrency?: number;
  /** Where asynchronous invocations go after Lambda's retries fail. */
  deadLetterQueue?: sqs.IQueue;
}

/**
 * One Lambda of the service: Node.js 22 on arm64, bundled with the shared esbuild settings, its own
 * log group with retention, and its own role that starts with nothing but writing to that log group
 * (no AWS managed policy); the stack adds exactly the data access listed in infra/access.ts.
 */
export class StorageFunction extends Construct {
  readonly fn: string;
  readonly function: NodejsFunction;
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: StorageFunctionProps) {
    super(scope, id);
    const access = accessOf(props.fn);
    this.fn = props.fn;
    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `storage function ${props.fn}`,
    });
    logGroup.grantWrite(this.role);
    this.function = new NodejsFunction(this, 'Function', {
      entry: functionEntry(props.fn),
      handler: 'handler',
      projectRoot,
      depsLockFilePath: `${projectRoot}/package-lock.json`,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: access.memoryMb ?? DEFAULT_MEMORY_MB,
      timeout: props.timeout ?? Duration.seconds(access.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS),
      role: this.role,
      logGroup,
      reservedConcurrentExecutions: props.reservedConcurrency,
      deadLetterQueue: props.deadLetterQueue,
      description: `storage: ${props.fn}`,
      environment: {
        ...props.environment,
        // One service; Powertools adds the function name to every line from the Lambda context.
        POWERTOOLS_SERVICE_NAME: 'storage',
        // Stack traces point into the TypeScript sources through the bundle's .map file.
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: cdkBundling(),
    });
    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions::AwsSolutions-L1',
      reason:
        'Node.js 22 is the runtime the bundles target and the bundle smoke test exercises; moving to a newer runtime is a deliberate change of NODE_TARGET in infra/bundling.ts.',
    });
  }
}
