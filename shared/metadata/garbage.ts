import { BatchWriteCommand, DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Garbage } from './blobs';
import { db, tableName } from './client';
import { type GarbageItem, garbageItem, garbageKey } from './items';

export type { Garbage };

/**
 * Forgets garbage whose objects are deleted. Keys are never reused, so this needs no condition.
 * Garbage that a writer may still put (settleAt ahead: a thumbnail render) is not forgotten: its
 * item is due at settleAt, and the sweeper deletes the object again then.
 */
export async function forgetGarbage(garbage: Garbage[], now = Date.now()): Promise<void> {
  // A batch item stands for many objects: it goes once, when they all are gone.
  const items = new Map(
    garbage
      .filter((g) => !(g.settleAt && g.settleAt > now))
      .map((g) => garbageKey(g.tenant, g.storage, g.item ?? g.key))
      .map((k) => [`${k.pk}\n${k.sk}`, k]),
  );
  const keys = [...items.values()];
  if (keys.length === 1) {
    await db().send(new DeleteCommand({ TableName: tableName(), Key: keys[0] }));
    return;
  }
  // 25 deletes per request (DynamoDB's limit); what it leaves unprocessed (throttling) is sent again.
  const batches: (typeof keys)[] = [];
  for (let i = 0; i < keys.length; i += 25) batches.push(keys.slice(i, i + 25));
  await Promise.all(
    batches.map(async (batch) => {
      let pending: unknown[] = batch.map((Key) => ({ DeleteRequest: { Key } }));
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 25 * 2 ** attempt)));
        if (attempt > 8) throw new Error('garbage items could not be forgotten: throttled');
        const answer = await db().send(
          new BatchWriteCommand({
            RequestItems: { [tableName()]: pending as { DeleteRequest: { Key: Record<string, string> } }[] },
          }),
        );
        pending = answer.UnprocessedItems?.[tableName()] ?? [];
      }
    }),
  );
}

/** The objects a stored garbage item stands for (a batch item: all of its keys). */
export function garbageOfItem(item: GarbageItem): Garbage[] {
  const { tenant, storage, key, keys, multipartUploadId } = item;
  if (keys) return keys.map((k) => ({ tenant, storage, key: k, item: key }));
  return [{ tenant, storage, key, ...(multipartUploadId ? { multipartUploadId } : {}) }];
}

/** Records objects as garbage before they are deleted, for a remover that has no transaction to do it in. */
export async function markGarbage(garbage: Garbage[], reason: string): Promise<void> {
  await Promise.all(
    garbage.map((g) => db().send(new PutCommand({ TableName: tableName(), Item: garbageItem(g, reason) }))),
  );
}
