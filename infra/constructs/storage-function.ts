import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { AssetHashType, DockerImage, Duration, type RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { accessOf, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_SECONDS } from '../access';
import { functionEntry, lambdaBundle, projectRoot, takePrebuilt } from '../bundling';

/**
 * The function's code asset: infra/bundling.ts's esbuild build, run locally (no Docker,
 * offline) into the asset folder CDK hands over: index.mjs and the lazy-*.mjs files its dynamic
 * imports point at. CDK's NodejsFunction cannot be used: it builds one file with esbuild --outfile.
 * The build needs an esbuild plugin, which buildSync does not take, so it runs in a child process.
 * The asset hash is the hash of the build output, so an unchanged bundle keeps its asset.
 */
export function functionCode(fn: string): lambda.Code {
  return lambda.Code.fromAsset(projectRoot, {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Never used: local bundling always succeeds or throws; CDK requires an image anyway.
      image: DockerImage.fromRegistry('dummy'),
      // Never run either, but part of CDK's asset cache key: without it every function would share
      // the first function's staged asset (CDK cannot see inside tryBundle).
      command: ['esbuild', functionEntry(fn)],
      local: {
        tryBundle(outputDir: string) {
          // Built ahead by the CDK app (infra/app.ts, prebuildAssets): only moved into place.
          if (takePrebuilt(outputDir, fn)) return true;
          execFileSync(
            process.execPath,
            [
              '--import',
              'tsx',
              join(projectRoot, 'infra', 'build-function.ts'),
              functionEntry(fn),
              outputDir,
            ],
            { cwd: projectRoot, stdio: ['ignore', 'inherit', 'inherit'] },
          );
          return true;
        },
      },
    },
  });
}

/** The handler Lambda calls: `handler` exported by index.mjs. */
export const FUNCTION_HANDLER = `${lambdaBundle.outFile.replace(/\.mjs$/, '')}.handler`;

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
  readonly function: lambda.Function;
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
    this.function = new lambda.Function(this, 'Function', {
      code: functionCode(props.fn),
      handler: FUNCTION_HANDLER,
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
    });
    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions::AwsSolutions-L1',
      reason:
        'Node.js 22 is the runtime the bundles target and the bundle smoke test exercises; moving to a newer runtime is a deliberate change of NODE_TARGET in infra/bundling.ts.',
    });
  }
}
