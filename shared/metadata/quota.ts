import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { getConfig } from '../config';
import { db, tableName } from './client';
import type { TransactItem } from './transact';

/**
 * Per-tenant quota counter. `freeBytes` (= limit - used - reserved) is stored rather than derived
 * because DynamoDB conditions cannot add: `freeBytes >= :n` is what lets a reservation be one
 * conditional write that concurrent uploads can never push past the limit.
 */
export interface Usage {
  tenant: string;
  limitBytes: number;
  usedBytes: number;
  reservedBytes: number;
  fileCount: number;
}

interface QuotaItem extends Usage {
  freeBytes: number;
}

export const quotaKey = (tenant: string) => ({ pk: `Q#${tenant}`, sk: '-' });

export async function getUsage(tenant: string): Promise<Usage> {
  const { Item } = await db().send(
    new GetCommand({ TableName: tableName(), Key: quotaKey(tenant), ConsistentRead: true }),
  );
  const item = Item as QuotaItem | undefined;
  return {
    tenant,
    limitBytes: item?.limitBytes ?? getConfig().defaultQuotaBytes,
    usedBytes: item?.usedBytes ?? 0,
    reservedBytes: item?.reservedBytes ?? 0,
    fileCount: item?.fileCount ?? 0,
  };
}

/** Creates the counter with the configured default limit, unless it exists. */
export async function ensureQuota(tenant: string): Promise<void> {
  const limit = getConfig().defaultQuotaBytes;
  try {
    await db().send(
      new PutCommand({
        TableName: tableName(),
        Item: {
          ...quotaKey(tenant),
          tenant,
          limitBytes: limit,
          usedBytes: 0,
          reservedBytes: 0,
          fileCount: 0,
          freeBytes: limit,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  } catch (e) {
    if (!(e instanceof ConditionalCheckFailedException)) throw e;
  }
}

/** Transaction item: reserve `bytes`, failing the transaction if they are not free. */
export function reserveItem(tenant: string, bytes: number): TransactItem {
  return {
    Update: {
      TableName: tableName(),
      Key: quotaKey(tenant),
      UpdateExpression: 'ADD reservedBytes :n, freeBytes :neg',
      ConditionExpression: 'freeBytes >= :n',
      ExpressionAttributeValues: { ':n': bytes, ':neg': -bytes },
    },
  };
}

/** Transaction item: move counters by the given deltas (commit, release, delete all are this). */
export function adjustItem(
  tenant: string,
  delta: { used?: number; reserved?: number; files?: number },
): TransactItem {
  const used = delta.used ?? 0;
  const reserved = delta.reserved ?? 0;
  return {
    Update: {
      TableName: tableName(),
      Key: quotaKey(tenant),
      UpdateExpression: 'ADD usedBytes :u, reservedBytes :r, fileCount :f, freeBytes :free',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: {
        ':u': used,
        ':r': reserved,
        ':f': delta.files ?? 0,
        ':free': -(used + reserved),
      },
    },
  };
}

export async function setLimit(tenant: string, limitBytes: number): Promise<Usage> {
  await ensureQuota(tenant);
  for (let attempt = 0; attempt < 20; attempt++) {
    const current = await getUsage(tenant);
    try {
      await db().send(
        new UpdateCommand({
          TableName: tableName(),
          Key: quotaKey(tenant),
          UpdateExpression: 'SET limitBytes = :new ADD freeBytes :delta',
          ConditionExpression: 'limitBytes = :old',
          ExpressionAttributeValues: {
            ':new': limitBytes,
            ':old': current.limitBytes,
            ':delta': limitBytes - current.limitBytes,
          },
        }),
      );
      return { ...current, limitBytes };
    } catch (e) {
      if (!(e instanceof ConditionalCheckFailedException)) throw e;
    }
  }
  throw new Error('quota limit changed concurrently too often');
}

/** Overwrites the counters with recomputed totals (recalculate). */
export async function writeTotals(
  tenant: string,
  totals: Omit<Usage, 'tenant' | 'limitBytes'>,
): Promise<Usage> {
  await ensureQuota(tenant);
  const { Attributes } = await db().send(
    new UpdateCommand({
      TableName: tableName(),
      Key: quotaKey(tenant),
      UpdateExpression:
        'SET usedBytes = :u, reservedBytes = :r, fileCount = :f, freeBytes = limitBytes - :ur',
      ExpressionAttributeValues: {
        ':u': totals.usedBytes,
        ':r': totals.reservedBytes,
        ':f': totals.fileCount,
        ':ur': totals.usedBytes + totals.reservedBytes,
      },
      ReturnValues: 'ALL_NEW',
    }),
  );
  const item = Attributes as QuotaItem;
  return {
    tenant,
    limitBytes: item.limitBytes,
    usedBytes: item.usedBytes,
    reservedBytes: item.reservedBytes,
    fileCount: item.fileCount,
  };
}
