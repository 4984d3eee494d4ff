import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { getConfig } from '../config';
import { db, tableName } from './client';
import { quotaKey } from './items';
import type { TransactItem } from './transact';
import { isConditionalCheckFailed } from './transact';

export { quotaKey };

/**
 * Per-tenant quota counter. `freeBytes` (= limit - used - reserved) is stored rather than derived
 * because DynamoDB conditions cannot add: `freeBytes >= :n` is what lets a reservation be one
 * conditional write that concurrent uploads can never push past the limit. `rev` counts every
 * change, so a recount can be written only if nothing moved while it counted. `storages` names
 * every storage instance the tenant ever stored a file in, so a recount finds files in instances
 * that are no longer configured.
 */
export interface Usage {
  tenant: string;
  limitBytes: number;
  usedBytes: number;
  reservedBytes: number;
  fileCount: number;
}

export interface QuotaState extends Usage {
  rev: number;
  storages: string[];
}

interface QuotaItem extends Usage {
  freeBytes: number;
  rev?: number;
  storages?: Set<string>;
}

export async function getQuotaState(tenant: string): Promise<QuotaState> {
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
    rev: item?.rev ?? 0,
    storages: [...(item?.storages ?? [])].sort(),
  };
}

export async function getUsage(tenant: string): Promise<Usage> {
  const { limitBytes, usedBytes, reservedBytes, fileCount } = await getQuotaState(tenant);
  return { tenant, limitBytes, usedBytes, reservedBytes, fileCount };
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
          rev: 0,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  } catch (e) {
    if (!isConditionalCheckFailed(e)) throw e;
  }
}

/** Transaction item: reserve `bytes`, failing the transaction if they are not free. */
export function reserveItem(tenant: string, bytes: number): TransactItem {
  return {
    Update: {
      TableName: tableName(),
      Key: quotaKey(tenant),
      UpdateExpression: 'ADD reservedBytes :n, freeBytes :neg, rev :one',
      ConditionExpression: 'freeBytes >= :n',
      ExpressionAttributeValues: { ':n': bytes, ':neg': -bytes, ':one': 1 },
    },
  };
}

/**
 * Transaction item: move counters by the given deltas (commit, release, delete all are this).
 * `storage` is recorded in the tenant's set of storages when a file is stored there.
 */
export function adjustItem(
  tenant: string,
  delta: { used?: number; reserved?: number; files?: number; storage?: string },
): TransactItem {
  const used = delta.used ?? 0;
  const reserved = delta.reserved ?? 0;
  return {
    Update: {
      TableName: tableName(),
      Key: quotaKey(tenant),
      UpdateExpression: `ADD usedBytes :u, reservedBytes :r, fileCount :f, freeBytes :free, rev :one${
        delta.storage ? ', storages :s' : ''
      }`,
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: {
        ':u': used,
        ':r': reserved,
        ':f': delta.files ?? 0,
        ':free': -(used + reserved),
        ':one': 1,
        ...(delta.storage ? { ':s': new Set([delta.storage]) } : {}),
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
          UpdateExpression: 'SET limitBytes = :new ADD freeBytes :delta, rev :one',
          ConditionExpression: 'limitBytes = :old',
          ExpressionAttributeValues: {
            ':new': limitBytes,
            ':old': current.limitBytes,
            ':delta': limitBytes - current.limitBytes,
            ':one': 1,
          },
        }),
      );
      return { ...current, limitBytes };
    } catch (e) {
      if (!isConditionalCheckFailed(e)) throw e;
    }
  }
  throw new Error('quota limit changed concurrently too often');
}

/**
 * Writes recounted totals, but only if the counter did not move since `rev` was read (before the
 * count began): a commit or release in between would make the recount stale. Returns null then.
 */
export async function writeTotals(
  tenant: string,
  rev: number,
  totals: Omit<Usage, 'tenant' | 'limitBytes'>,
): Promise<Usage | null> {
  await ensureQuota(tenant);
  try {
    const { Attributes } = await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: quotaKey(tenant),
        UpdateExpression:
          'SET usedBytes = :u, reservedBytes = :r, fileCount = :f, freeBytes = limitBytes - :ur ADD rev :one',
        ConditionExpression: rev === 0 ? 'attribute_not_exists(rev) OR rev = :rev' : 'rev = :rev',
        ExpressionAttributeValues: {
          ':u': totals.usedBytes,
          ':r': totals.reservedBytes,
          ':f': totals.fileCount,
          ':ur': totals.usedBytes + totals.reservedBytes,
          ':rev': rev,
          ':one': 1,
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
  } catch (e) {
    if (isConditionalCheckFailed(e)) return null;
    throw e;
  }
}
