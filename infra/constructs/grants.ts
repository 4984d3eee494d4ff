import { Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { SWEEP_INDEX } from '../../shared/metadata/schema';
import {
  accessOf,
  BUCKET_READ_ACTIONS,
  OBJECT_ACTIONS,
  READ_TABLE_ACTIONS,
  WRITE_TABLE_ACTIONS,
} from '../access';
import type { StorageFunction } from './storage-function';

/** How cdk-nag names a bucket's `arn/*` resource in its findings. */
function objectsArnFinding(bucket: s3.IBucket): string {
  if (bucket instanceof s3.Bucket) {
    const logicalId = Stack.of(bucket).getLogicalId(bucket.node.defaultChild as s3.CfnBucket);
    return `<${logicalId}.Arn>/*`;
  }
  return `arn:<AWS::Partition>:s3:::${bucket.bucketName}/*`;
}

/** Everything a function may be granted, and the environment every function gets. */
export interface ServiceResources {
  table: dynamodb.ITable;
  /** The S3 buckets of storage instances (the stack's own one first). */
  buckets: s3.IBucket[];
  bucketKey?: kms.IKey;
  /** Credentials of non-S3 storage instances, read by the functions that touch objects. */
  storageSecrets: secretsmanager.ISecret[];
  signingSecret: secretsmanager.ISecret;
  bus: events.IEventBus;
  environment: Record<string, string>;
}

/**
 * Turns the function's row of infra/access.ts into IAM statements on its own role: exact actions on
 * exact resources (the table, the one index the sweeper queries, the buckets' objects), nothing else.
 */
export function grantAccess(target: StorageFunction, resources: ServiceResources): void {
  const access = accessOf(target.fn);
  const role = target.role;
  const fn = target.function;
  for (const [name, value] of Object.entries(resources.environment)) fn.addEnvironment(name, value);
  // A read-only function cannot remove the expired files it meets: it answers 404 and leaves them to the sweeper.
  fn.addEnvironment('CLEANUP_ON_READ', access.table === 'write' ? 'true' : 'false');

  // Every function reads the link-signing secret at cold start (shared/secrets.ts).
  resources.signingSecret.grantRead(role);

  if (access.table) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: access.table === 'write' ? WRITE_TABLE_ACTIONS : READ_TABLE_ACTIONS,
        resources: [resources.table.tableArn],
      }),
    );
  }
  if (access.scan) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['dynamodb:Scan'], resources: [resources.table.tableArn] }),
    );
  }
  if (access.sweepIndex) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${resources.table.tableArn}/index/${SWEEP_INDEX}`],
      }),
    );
  }

  const objects = access.objects ?? {};
  const objectActions = [
    ...new Set([
      ...(objects.read ? OBJECT_ACTIONS.read : []),
      ...(objects.write ? OBJECT_ACTIONS.write : []),
      ...(objects.delete ? OBJECT_ACTIONS.delete : []),
      ...(objects.parts ? OBJECT_ACTIONS.parts : []),
    ]),
  ];
  if (objectActions.length) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: objectActions,
        resources: resources.buckets.map((b) => b.arnForObjects('*')),
      }),
    );
    for (const bucket of resources.buckets) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::${objectsArnFinding(bucket)}]`,
        reason:
          "Object keys are created at run time under each tenant ({tenant}/...), so object actions apply to the bucket's keys; the actions themselves are the exact ones this function needs.",
      });
    }
    if (objects.read) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: BUCKET_READ_ACTIONS,
          resources: resources.buckets.map((b) => b.bucketArn),
        }),
      );
    }
    if (resources.bucketKey) {
      if (objects.write) resources.bucketKey.grantEncryptDecrypt(role);
      else if (objects.read) resources.bucketKey.grantDecrypt(role);
    }
    for (const secret of resources.storageSecrets) secret.grantRead(role);
  }

  if (access.emits) {
    resources.bus.grantPutEventsTo(role);
    fn.addEnvironment('EVENT_BUS_NAME', resources.bus.eventBusName);
  }
}
