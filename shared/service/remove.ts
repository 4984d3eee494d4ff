import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { getStorage } from '../backends/registry';
import { emitFileEvent } from '../events';
import { logger } from '../logger';
import { db, tableName } from '../metadata/client';
import { adjustItem } from '../metadata/quota';
import { blobKey, type FileRecord, fileKey, getBlob, getFileRecord } from '../metadata/records';
import { isConditionFailed, type TransactItem, transactWrite } from '../metadata/transact';
import { normalizePath } from '../path';

/** Transaction item: drop one reference to a deduplicated blob. */
export function derefBlobItem(tenant: string, storage: string, md5: string): TransactItem {
  return {
    Update: {
      TableName: tableName(),
      Key: blobKey(tenant, storage, md5),
      UpdateExpression: 'ADD refCount :minus',
      ExpressionAttributeValues: { ':minus': -1 },
    },
  };
}

/**
 * Removes a file record and gives its bytes back to the quota in one transaction, conditioned on the
 * record still being this one (same id): a second delete, a sweeper running twice, or an expiry
 * check racing a re-upload can never release quota twice or remove a newer file. Returns whether
 * this call removed it.
 */
export async function removeFile(
  record: FileRecord,
  options: { reason: 'deleted' | 'expired'; deferObjectDelete?: (key: string) => void },
): Promise<boolean> {
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
  ];
  if (record.blobMd5) items.push(derefBlobItem(record.tenant, record.storage, record.blobMd5));
  try {
    await transactWrite(items);
  } catch (e) {
    if (isConditionFailed(e)) return false;
    throw e;
  }
  // A caller that removes many files (the sweeper) collects plain objects and deletes them in batches.
  if (options.deferObjectDelete && !record.blobMd5) options.deferObjectDelete(record.key);
  else await releaseBytes(record);
  await emitFileEvent(options.reason === 'deleted' ? 'FileDeleted' : 'FileExpired', record);
  return true;
}

/**
 * Deletes the object behind a record that is already gone from the table. A blob is deleted only
 * when no reference is left. Failures leave an orphan object (never a dangling record), so they are
 * logged, not thrown.
 */
export async function releaseBytes(
  record: Pick<FileRecord, 'tenant' | 'storage' | 'key' | 'blobMd5'>,
): Promise<void> {
  try {
    const backend = getStorage(record.storage);
    if (!record.blobMd5) {
      await backend.delete(record.key);
      return;
    }
    const blob = await getBlob(record.tenant, record.storage, record.blobMd5);
    if (!blob || blob.refCount > 0) return;
    await db().send(
      new DeleteCommand({
        TableName: tableName(),
        Key: blobKey(record.tenant, record.storage, record.blobMd5),
        ConditionExpression: 'refCount <= :zero',
        ExpressionAttributeValues: { ':zero': 0 },
      }),
    );
    await backend.delete(blob.key);
  } catch (e) {
    if ((e as Error).name === 'ConditionalCheckFailedException') return; // a new reference arrived: keep it
    logger.warn('object left behind after its record was removed', { key: record.key, error: e as Error });
  }
}

/** delete: idempotent, a missing file is not an error (the caller's intent, "gone", holds). */
export async function deleteFile(
  tenant: string,
  storage: string | undefined,
  rawPath: string | undefined,
): Promise<void> {
  const backend = getStorage(storage);
  const path = normalizePath(rawPath);
  const record = await getFileRecord(tenant, backend.name, path);
  if (record) await removeFile(record, { reason: 'deleted' });
}
