import { DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Garbage } from './blobs';
import { db, tableName } from './client';
import { garbageItem, garbageKey } from './items';

export type { Garbage };

/**
 * Forgets garbage whose objects are deleted. Keys are never reused, so this needs no condition.
 * Garbage that a writer may still put (settleAt ahead: a thumbnail render) is not forgotten: its
 * item is due at settleAt, and the sweeper deletes the object again then.
 */
export async function forgetGarbage(garbage: Garbage[], now = Date.now()): Promise<void> {
  await Promise.all(
    garbage
      .filter((g) => !(g.settleAt && g.settleAt > now))
      .map((g) =>
        db().send(new DeleteCommand({ TableName: tableName(), Key: garbageKey(g.tenant, g.storage, g.key) })),
      ),
  );
}

/** Records objects as garbage before they are deleted, for a remover that has no transaction to do it in. */
export async function markGarbage(garbage: Garbage[], reason: string): Promise<void> {
  await Promise.all(
    garbage.map((g) => db().send(new PutCommand({ TableName: tableName(), Item: garbageItem(g, reason) }))),
  );
}
