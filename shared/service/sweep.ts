import { DeleteCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import { getStorage } from '../backends/registry';
import { logger } from '../logger';
import { db, tableName } from '../metadata/client';
import { type BlobItem, type FileRecord, queryExpired, type UploadSession } from '../metadata/records';
import { EXPIRY_SHARDS } from '../metadata/schema';
import { isConditionFailed } from '../metadata/transact';
import { removeFile } from './remove';
import { releaseSession } from './sessions';

export interface SweepResult {
  files: number;
  uploads: number;
  blobs: number;
  /** false when the time budget ran out first; the next run continues where this one stopped */
  complete: boolean;
}

const PAGE = 100;
const PARALLEL = 8;

/**
 * Finds expired items through the sparse expiry index (Query per shard, never Scan) and removes
 * them: expired files (object, record, quota), abandoned PENDING uploads (object if any, reservation)
 * and stale blob claims. Every removal is a conditional write, so two sweeps at once, or a sweep
 * racing a read that expires the same file, release quota exactly once. Stops before `deadline`.
 */
export async function sweepExpired(options: { now?: number; deadline: number }): Promise<SweepResult> {
  const now = options.now ?? Date.now();
  const result: SweepResult = { files: 0, uploads: 0, blobs: 0, complete: true };
  for (let shard = 0; shard < EXPIRY_SHARDS; shard++) {
    let start: Record<string, unknown> | undefined;
    do {
      if (Date.now() >= options.deadline) return { ...result, complete: false };
      const page = await queryExpired(shard, now, PAGE, start);
      // Objects of removed files are deleted in one batch per storage and page.
      const objects = new Map<string, string[]>();
      for (let i = 0; i < page.keys.length; i += PARALLEL) {
        await Promise.all(page.keys.slice(i, i + PARALLEL).map((key) => sweepOne(key, now, result, objects)));
      }
      await deleteObjects(objects);
      start = page.next;
    } while (start);
  }
  return result;
}

async function deleteObjects(objects: Map<string, string[]>): Promise<void> {
  for (const [storage, keys] of objects) {
    try {
      await getStorage(storage).deleteMany(keys);
    } catch (e) {
      // The records are gone already: what is left is orphaned bytes, never a dangling record.
      logger.error('objects of swept files were left behind', {
        storage,
        count: keys.length,
        error: e as Error,
      });
    }
  }
}

async function sweepOne(
  key: { pk: string; sk: string },
  now: number,
  result: SweepResult,
  objects: Map<string, string[]>,
): Promise<void> {
  try {
    const { Item } = await db().send(
      new GetCommand({ TableName: tableName(), Key: key, ConsistentRead: true }),
    );
    if (!Item || typeof Item.expiresAt !== 'number' || Item.expiresAt > now) return; // changed since the index saw it
    if (key.pk.startsWith('F#')) {
      const record = Item as FileRecord;
      const defer = (objectKey: string) => {
        objects.set(record.storage, [...(objects.get(record.storage) ?? []), objectKey]);
      };
      if (await removeFile(record, { reason: 'expired', deferObjectDelete: defer })) result.files++;
    } else if (key.pk.startsWith('U#')) {
      const session = Item as UploadSession;
      if (session.status === 'PENDING') {
        if (await releaseSession(session)) {
          // The bytes of an abandoned direct upload may have arrived; its key is its own.
          await getStorage(session.storage).delete(session.key);
          result.uploads++;
        }
      } else {
        await deleteIfUnchanged(key, Item.expiresAt);
      }
    } else if (key.pk.startsWith('B#')) {
      const blob = Item as BlobItem;
      if (blob.state !== 'WRITING') return;
      // Object first, claim second: nobody can claim the key between the two.
      await getStorage(blob.storage).delete(blob.key);
      await deleteIfUnchanged(key, Item.expiresAt);
      result.blobs++;
    }
  } catch (e) {
    if (isConditionFailed(e)) return;
    logger.error('sweep failed for an item; the next run retries it', { key, error: e as Error });
  }
}

async function deleteIfUnchanged(key: { pk: string; sk: string }, expiresAt: number): Promise<void> {
  try {
    await db().send(
      new DeleteCommand({
        TableName: tableName(),
        Key: key,
        ConditionExpression: 'expiresAt = :e',
        ExpressionAttributeValues: { ':e': expiresAt },
      }),
    );
  } catch (e) {
    if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
  }
}
