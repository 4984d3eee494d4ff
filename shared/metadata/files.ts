import { GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type Garbage, releaseBytesOf } from './blobs';
import { db, tableName } from './client';
import { type FileRecord, fileKey, toFileRecord } from './items';
import { adjustItem } from './quota';
import { isConditionalCheckFailed, isConditionFailed, type TransactItem, transactWrite } from './transact';

export async function getFileRecord(
  tenant: string,
  storage: string,
  path: string,
): Promise<FileRecord | undefined> {
  const { Item } = await db().send(
    new GetCommand({ TableName: tableName(), Key: fileKey(tenant, storage, path), ConsistentRead: true }),
  );
  return toFileRecord(Item);
}

/**
 * Revokes a file's links: a new generation, on this very file (same id). Returns false when the
 * file was deleted or replaced meanwhile, which killed those links already.
 */
export async function bumpLinkGeneration(record: FileRecord): Promise<boolean> {
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: fileKey(record.tenant, record.storage, record.path),
        UpdateExpression: 'SET linkGeneration = if_not_exists(linkGeneration, :zero) + :one',
        ConditionExpression: 'id = :id',
        ExpressionAttributeValues: { ':id': record.id, ':zero': 0, ':one': 1 },
      }),
    );
    return true;
  } catch (e) {
    if (isConditionalCheckFailed(e)) return false;
    throw e;
  }
}

/** Files of a tenant in one storage, in path order (UTF-8 byte order), one page. */
export async function queryFiles(
  tenant: string,
  storage: string,
  options: { prefix?: string; after?: string; limit: number },
): Promise<{ records: FileRecord[]; last?: string }> {
  const pk = fileKey(tenant, storage, '').pk;
  const { Items = [], LastEvaluatedKey } = await db().send(
    new QueryCommand({
      TableName: tableName(),
      KeyConditionExpression: options.prefix ? 'pk = :pk AND begins_with(sk, :prefix)' : 'pk = :pk',
      ExpressionAttributeValues: { ':pk': pk, ...(options.prefix ? { ':prefix': options.prefix } : {}) },
      ExclusiveStartKey: options.after ? { pk, sk: options.after } : undefined,
      Limit: options.limit,
      ConsistentRead: true,
    }),
  );
  return {
    records: Items.map((i) => toFileRecord(i) as FileRecord),
    last: LastEvaluatedKey ? (LastEvaluatedKey.sk as string) : undefined,
  };
}

/** Every file of a tenant in one storage, page by page (recount, audit). */
export async function* filesOf(tenant: string, storage: string): AsyncGenerator<FileRecord> {
  let after: string | undefined;
  do {
    const page = await queryFiles(tenant, storage, { after, limit: 500 });
    yield* page.records;
    after = page.last;
  } while (after);
}

/**
 * Removes a file record and gives its bytes back in one transaction: the record (conditioned on
 * still being this one, same id: a second delete, two sweepers, or an expiry racing a re-upload
 * can never release twice or remove a newer file), the quota, and the bytes (its object, or its
 * reference to a blob, to garbage). Returns whether this call removed it, and the garbage made.
 */
export async function removeFileRecord(
  record: FileRecord,
  reason: 'deleted' | 'expired' | 'lost',
): Promise<{ removed: boolean; garbage: Garbage[] }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const release = await releaseBytesOf(record, reason);
    const items: TransactItem[] = [
      {
        Delete: {
          TableName: tableName(),
          Key: fileKey(record.tenant, record.storage, record.path),
          ConditionExpression: 'id = :id',
          ExpressionAttributeValues: { ':id': record.id },
        },
      },
      adjustItem(record.tenant, { used: -record.size, files: -1 }),
      ...release.items,
    ];
    try {
      await transactWrite(items);
      return { removed: true, garbage: release.garbage };
    } catch (e) {
      if (!isConditionFailed(e)) throw e;
      if (e.failed[0]) return { removed: false, garbage: [] };
      // The blob's reference count moved between the read and the write: read it again.
    }
  }
  throw new Error(`file ${record.path} could not be removed: its blob keeps changing`);
}
