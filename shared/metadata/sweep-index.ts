import { BatchGetCommand, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { db, tableName } from './client';
import { strip, sweepAttributes } from './items';
import { SWEEP_INDEX } from './schema';
import { isConditionalCheckFailed } from './transact';

export interface ItemKey {
  pk: string;
  sk: string;
}

/** Keys of items due for the sweeper (sweepAt <= now) in one shard of the sparse index, oldest first. */
export async function queryDue(shard: number, now: number, limit: number, start?: Record<string, unknown>) {
  const page = await db().send(
    new QueryCommand({
      TableName: tableName(),
      IndexName: SWEEP_INDEX,
      KeyConditionExpression: 'sweepShard = :s AND sweepAt <= :now',
      ExpressionAttributeValues: { ':s': `SW#${shard}`, ':now': now },
      Limit: limit,
      ExclusiveStartKey: start,
    }),
  );
  // Index items carry the index keys too; the table key is pk + sk alone, and the whole index
  // entry is where a query continues after it.
  const entries = (page.Items ?? []).map((i) => ({
    key: { pk: i.pk as string, sk: i.sk as string } as ItemKey,
    position: { pk: i.pk, sk: i.sk, sweepShard: i.sweepShard, sweepAt: i.sweepAt } as Record<string, unknown>,
  }));
  return { entries, next: page.LastEvaluatedKey };
}

/** One item as the sweeper sees it: the stored attributes, with its sweepAt and failure count. */
export interface DueItem {
  item: Record<string, unknown>;
  sweepAt: number;
  failures: number;
}

function dueItem(Item: Record<string, unknown> | undefined): DueItem | undefined {
  if (!Item || typeof Item.sweepAt !== 'number') return undefined;
  return {
    item: strip<Record<string, unknown>>(Item) as Record<string, unknown>,
    sweepAt: Item.sweepAt,
    failures: typeof Item.sweepFailures === 'number' ? Item.sweepFailures : 0,
  };
}

export async function getDueItem(key: ItemKey): Promise<DueItem | undefined> {
  const { Item } = await db().send(
    new GetCommand({ TableName: tableName(), Key: key, ConsistentRead: true }),
  );
  return dueItem(Item);
}

export const keyId = (key: ItemKey) => `${key.pk}\n${key.sk}`;

/**
 * The due items of a page of the index, read in batches of 100 (consistent: the index itself is
 * only eventually so), by keyId. Keys DynamoDB leaves unprocessed (throttling) are asked again.
 */
export async function getDueItems(keys: ItemKey[]): Promise<Map<string, DueItem>> {
  const found = new Map<string, DueItem>();
  for (let i = 0; i < keys.length; i += 100) {
    let pending: ItemKey[] = keys.slice(i, i + 100);
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 25 * 2 ** attempt)));
      if (attempt > 8) throw new Error('the sweep index items could not be read: throttled');
      const answer = await db().send(
        new BatchGetCommand({ RequestItems: { [tableName()]: { Keys: pending, ConsistentRead: true } } }),
      );
      for (const Item of answer.Responses?.[tableName()] ?? []) {
        const due = dueItem(Item);
        if (due) found.set(keyId(Item as ItemKey), due);
      }
      pending = (answer.UnprocessedKeys?.[tableName()]?.Keys ?? []) as ItemKey[];
    }
  }
  return found;
}

/**
 * After a failed attempt, the sweeper looks at the item again only at `until`, so an item that
 * fails every time (a poison item) costs one attempt per back-off instead of every run's budget.
 * Conditioned on the sweepAt seen, so an item that changed in between is left as it is now.
 */
export async function postpone(key: ItemKey, seenSweepAt: number, until: number): Promise<void> {
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: key,
        UpdateExpression: 'SET sweepAt = :u, sweepShard = :shard ADD sweepFailures :one',
        ConditionExpression: 'sweepAt = :seen',
        ExpressionAttributeValues: {
          ':u': until,
          ':seen': seenSweepAt,
          ':one': 1,
          ':shard': sweepAttributes(key, until).sweepShard,
        },
      }),
    );
  } catch (e) {
    if (!isConditionalCheckFailed(e)) throw e;
  }
}
