import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Garbage } from './blobs';
import { db, tableName } from './client';
import { type GarbageItem, garbageItem, garbageKey, strip } from './items';

export type { Garbage };

export async function getGarbage(
  tenant: string,
  storage: string,
  key: string,
): Promise<GarbageItem | undefined> {
  const { Item } = await db().send(
    new GetCommand({ TableName: tableName(), Key: garbageKey(tenant, storage, key), ConsistentRead: true }),
  );
  return strip<GarbageItem>(Item);
}

/** Forgets garbage whose objects are deleted. Keys are never reused, so this needs no condition. */
export async function forgetGarbage(garbage: Garbage[]): Promise<void> {
  await Promise.all(
    garbage.map((g) =>
      db().send(new DeleteCommand({ TableName: tableName(), Key: garbageKey(g.tenant, g.storage, g.key) })),
    ),
  );
}

/** Records objects as garbage before they are deleted, for a remover that has no transaction to do it in. */
export async function markGarbage(garbage: Garbage[], reason: string): Promise<void> {
  await Promise.all(
    garbage.map((g) =>
      db().send(
        new PutCommand({ TableName: tableName(), Item: garbageItem(g.tenant, g.storage, g.key, reason) }),
      ),
    ),
  );
}
