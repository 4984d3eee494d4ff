import { QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { db, tableName } from './client';
import {
  type BlobItem,
  blobKey,
  type GarbageItem,
  garbageKey,
  sessionKey,
  strip,
  type UploadSession,
} from './items';

/** Every item of one partition, page by page (recount, audit). */
export async function* queryPartition<T>(pk: string): AsyncGenerator<T> {
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db().send(
      new QueryCommand({
        TableName: tableName(),
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        ExclusiveStartKey: start,
        ConsistentRead: true,
      }),
    );
    for (const item of page.Items ?? []) yield strip<T>(item) as T;
    start = page.LastEvaluatedKey;
  } while (start);
}

export const sessionsOf = (tenant: string) => queryPartition<UploadSession>(sessionKey(tenant, '').pk);
export const blobsOf = (tenant: string, storage: string) =>
  queryPartition<BlobItem>(blobKey(tenant, storage, '').pk);
export const garbageOf = (tenant: string, storage: string) =>
  queryPartition<GarbageItem>(garbageKey(tenant, storage, '').pk);

/**
 * One page of tenant ids (every tenant that ever stored or reserved has a quota counter). This is
 * the one Scan in the service, and only the all-tenant audit uses it: it runs on demand or on a
 * schedule with a time budget, never on a request's path.
 */
export async function scanTenants(start?: Record<string, unknown>) {
  const page = await db().send(
    new ScanCommand({
      TableName: tableName(),
      FilterExpression: 'begins_with(pk, :q)',
      ExpressionAttributeValues: { ':q': 'Q#' },
      ProjectionExpression: 'pk',
      ExclusiveStartKey: start,
    }),
  );
  const tenants = (page.Items ?? []).map((i) => String(i.pk).slice(2));
  return { tenants, next: page.LastEvaluatedKey };
}
