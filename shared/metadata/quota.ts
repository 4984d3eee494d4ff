import { BatchGetCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { getConfig } from '../config';
import { db, tableName } from './client';
import { quotaKey } from './items';
import { isConditionalCheckFailed, isConditionFailed, type TransactItem, transactWrite } from './transact';

export { quotaKey };

/**
 * A tenant's counter may be spread over QUOTA_SHARDS items (docs/decisions.md, "A hot tenant"):
 * shard 0 is `Q#{tenant}` (it holds the limit), shard k > 0 is `Q#{tenant}#{k}`, a partition of its
 * own. The shards' free bytes always sum to limit - used - reserved, and a reservation needs free
 * bytes on its own shard. Shards k > 0 only ever hold free bytes moved to them from a shard that
 * had them (`borrowAllowance`, `spreadFree` when the counter is made, its limit changes or it is
 * recounted) or given back by their own sessions' commits, so they never go below 0; only shard 0
 * can (a lowered limit, a recount), and then the spread gives no room to any shard. So while the
 * tenant is within its limit, no reservation can pass it, however many shards. Releases (deletes,
 * expiry) go to shard 0. Usage is the sum of the shards.
 */
export const quotaShardKey = (tenant: string, shard: number) =>
  shard === 0 ? quotaKey(tenant) : { pk: `Q#${tenant}#${shard}`, sk: '-' };

/** How many shards a tenant's counter has (QUOTA_SHARDS; 1: the single counter). Only ever raised. */
export const quotaShards = () => getConfig().quotaShards;

/** A shard for new work (a new session's reservation): any, spreading the writes. */
export const anyQuotaShard = () => Math.floor(Math.random() * quotaShards());

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
  /** Each shard's change counter, by shard (a recount is written only if none moved). */
  revs: number[];
  storages: string[];
}

interface QuotaItem extends Usage {
  freeBytes: number;
  /** shards > 0: the part of the limit moved to this shard */
  allowanceBytes?: number;
  rev?: number;
  storages?: Set<string>;
}

/** Every shard of a tenant's counter (absent shards as undefined), read consistently. */
async function readShards(tenant: string): Promise<(QuotaItem | undefined)[]> {
  const n = quotaShards();
  if (n === 1) {
    const { Item } = await db().send(
      new GetCommand({ TableName: tableName(), Key: quotaKey(tenant), ConsistentRead: true }),
    );
    return [Item as QuotaItem | undefined];
  }
  const keys = Array.from({ length: n }, (_, k) => quotaShardKey(tenant, k));
  const found = new Map<string, QuotaItem>();
  let pending: Record<string, unknown>[] = keys;
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt > 8) throw new Error('the quota counter could not be read: throttled');
    if (attempt > 0) await new Promise((r) => setTimeout(r, 25 * 2 ** attempt));
    const answer = await db().send(
      new BatchGetCommand({ RequestItems: { [tableName()]: { Keys: pending, ConsistentRead: true } } }),
    );
    for (const item of answer.Responses?.[tableName()] ?? []) found.set(String(item.pk), item as QuotaItem);
    pending = answer.UnprocessedKeys?.[tableName()]?.Keys ?? [];
  }
  return keys.map((k) => found.get(k.pk));
}

export async function getQuotaState(tenant: string): Promise<QuotaState> {
  const shards = await readShards(tenant);
  const sum = (field: 'usedBytes' | 'reservedBytes' | 'fileCount') =>
    shards.reduce((total, item) => total + (item?.[field] ?? 0), 0);
  return {
    tenant,
    limitBytes: shards[0]?.limitBytes ?? getConfig().defaultQuotaBytes,
    usedBytes: sum('usedBytes'),
    reservedBytes: sum('reservedBytes'),
    fileCount: sum('fileCount'),
    revs: shards.map((item) => item?.rev ?? 0),
    storages: [...new Set(shards.flatMap((item) => [...(item?.storages ?? [])]))].sort(),
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
    return;
  }
  // A new sharded counter: every shard gets its share of the room at once.
  if (quotaShards() > 1) await spreadFree(tenant).catch(() => undefined);
}

/**
 * Spreads a sharded counter's free bytes evenly over its shards (after a limit change, when
 * `limitBytes` is given, in the same transaction): each shard's change conditioned on the free
 * bytes read, so a reservation in between fails it (false) rather than being undone. The sum
 * stays limit - used - reserved; a tenant over its limit gets no room on any shard (all on 0).
 */
async function spreadFree(tenant: string, limit?: { from: number; to: number }): Promise<boolean> {
  const shards = await readShards(tenant);
  const free = shards.map((item) => item?.freeBytes ?? 0);
  const total = free.reduce((a, b) => a + b, 0) + (limit ? limit.to - limit.from : 0);
  const share = total > 0 ? Math.floor(total / shards.length) : 0;
  const items: TransactItem[] = shards.map((item, shard): TransactItem => {
    const target = shard === 0 ? total - share * (shards.length - 1) : share;
    const change = target - (free[shard] ?? 0);
    if (shard === 0) {
      return {
        Update: {
          TableName: tableName(),
          Key: quotaShardKey(tenant, 0),
          UpdateExpression: `${limit ? 'SET limitBytes = :new ' : ''}ADD freeBytes :change, rev :one`,
          ConditionExpression: `freeBytes = :free${limit ? ' AND limitBytes = :old' : ''}`,
          ExpressionAttributeValues: {
            ':change': change,
            ':free': free[0] ?? 0,
            ':one': 1,
            ...(limit ? { ':new': limit.to, ':old': limit.from } : {}),
          },
        },
      };
    }
    return {
      Update: {
        TableName: tableName(),
        Key: quotaShardKey(tenant, shard),
        UpdateExpression: 'ADD freeBytes :change, allowanceBytes :change, rev :one',
        ConditionExpression: item ? 'freeBytes = :free' : 'attribute_not_exists(pk)',
        ExpressionAttributeValues: {
          ':change': change,
          ':one': 1,
          ...(item ? { ':free': free[shard] ?? 0 } : {}),
        },
      },
    };
  });
  try {
    await transactWrite(items);
    return true;
  } catch (e) {
    if (isConditionFailed(e)) return false;
    throw e;
  }
}

/** Transaction item: reserve `bytes` on a shard, failing the transaction if they are not free there. */
export function reserveItem(tenant: string, bytes: number, shard = 0): TransactItem {
  return {
    Update: {
      TableName: tableName(),
      Key: quotaShardKey(tenant, shard),
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
  shard = 0,
): TransactItem {
  const used = delta.used ?? 0;
  const reserved = delta.reserved ?? 0;
  return {
    Update: {
      TableName: tableName(),
      Key: quotaShardKey(tenant, shard),
      UpdateExpression: `ADD usedBytes :u, reservedBytes :r, fileCount :f, freeBytes :free, rev :one${
        delta.storage ? ', storages :s' : ''
      }`,
      // Shard 0 exists before any file does (it holds the limit); another is made by its first change.
      ...(shard === 0 ? { ConditionExpression: 'attribute_exists(pk)' } : {}),
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
    // A sharded counter spreads its room again with the change, so a lowered limit binds at once
    // (shards would otherwise keep room the new limit does not have).
    if (quotaShards() > 1) {
      if (await spreadFree(tenant, { from: current.limitBytes, to: limitBytes }))
        return { ...current, limitBytes };
      continue;
    }
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
 * Writes recounted totals, but only if no shard of the counter moved since `revs` were read
 * (before the count began): a commit or release in between would make the recount stale. Returns
 * null then. The totals go to shard 0, and every other shard gives its free bytes back (to 0), so
 * a tenant found over its limit has free bytes nowhere.
 */
export async function writeTotals(
  tenant: string,
  revs: number[],
  totals: Omit<Usage, 'tenant' | 'limitBytes'>,
): Promise<Usage | null> {
  await ensureQuota(tenant);
  const shards = await readShards(tenant);
  const revCondition = (rev: number) =>
    rev === 0 ? 'attribute_not_exists(rev) OR rev = :rev' : 'rev = :rev';
  const items = shards.flatMap((item, shard): TransactItem[] => {
    const rev = revs[shard] ?? 0;
    if (shard === 0) {
      return [
        {
          Update: {
            TableName: tableName(),
            Key: quotaShardKey(tenant, 0),
            UpdateExpression:
              'SET usedBytes = :u, reservedBytes = :r, fileCount = :f, freeBytes = limitBytes - :ur ADD rev :one',
            ConditionExpression: revCondition(rev),
            ExpressionAttributeValues: {
              ':u': totals.usedBytes,
              ':r': totals.reservedBytes,
              ':f': totals.fileCount,
              ':ur': totals.usedBytes + totals.reservedBytes,
              ':rev': rev,
              ':one': 1,
            },
          },
        },
      ];
    }
    if (!item) return [];
    return [
      {
        Update: {
          TableName: tableName(),
          Key: quotaShardKey(tenant, shard),
          UpdateExpression:
            'SET usedBytes = :zero, reservedBytes = :zero, fileCount = :zero, freeBytes = :zero, allowanceBytes = :zero ADD rev :one',
          ConditionExpression: revCondition(rev),
          ExpressionAttributeValues: { ':zero': 0, ':rev': rev, ':one': 1 },
        },
      },
    ];
  });
  try {
    await transactWrite(items);
  } catch (e) {
    if (isConditionFailed(e)) return null;
    throw e;
  }
  // Its room back on every shard (best effort: a shard without room borrows anyway).
  if (quotaShards() > 1) await spreadFree(tenant).catch(() => undefined);
  const state = await getQuotaState(tenant);
  return {
    tenant,
    limitBytes: state.limitBytes,
    usedBytes: state.usedBytes,
    reservedBytes: state.reservedBytes,
    fileCount: state.fileCount,
  };
}

/**
 * A shard without room for `bytes` borrows free bytes from the others, in one transaction (each
 * donor conditioned on still having them). False when all shards together have less than `bytes`
 * free: the tenant is over quota. True when the caller may try its reservation again (also when a
 * donor changed meanwhile: the next try reads again).
 */
export async function borrowAllowance(tenant: string, shard: number, bytes: number): Promise<boolean> {
  if (quotaShards() === 1) return false;
  const shards = await readShards(tenant);
  const free = shards.map((item) => item?.freeBytes ?? 0);
  const total = free.reduce((a, b) => a + b, 0);
  if (total < bytes) return false;
  const short = bytes - Math.max(0, free[shard] ?? 0);
  if (short <= 0) return true;
  // More than this reservation needs while the tenant has plenty (a share of what is free), so the
  // shard's next reservations need no borrowing; only what is needed when room runs short.
  let need = Math.max(short, Math.floor(total / (2 * shards.length)));
  const moves: { from: number; amount: number }[] = [];
  // From the shards with the most room first: few items, few later borrowings.
  for (const from of free.map((_, k) => k).sort((a, b) => (free[b] ?? 0) - (free[a] ?? 0))) {
    if (from === shard || need <= 0 || (free[from] ?? 0) <= 0) continue;
    const amount = Math.min(free[from] ?? 0, need);
    moves.push({ from, amount });
    need -= amount;
  }
  const amount = (k: number) => (k === 0 ? '' : ', allowanceBytes :a');
  const moved = moves.reduce((sum, m) => sum + m.amount, 0);
  const items: TransactItem[] = [
    ...moves.map(
      (m): TransactItem => ({
        Update: {
          TableName: tableName(),
          Key: quotaShardKey(tenant, m.from),
          UpdateExpression: `ADD freeBytes :neg${amount(m.from)}`,
          ConditionExpression: 'freeBytes >= :n',
          ExpressionAttributeValues: {
            ':neg': -m.amount,
            ':n': m.amount,
            ...(m.from ? { ':a': -m.amount } : {}),
          },
        },
      }),
    ),
    {
      Update: {
        TableName: tableName(),
        Key: quotaShardKey(tenant, shard),
        UpdateExpression: `ADD freeBytes :n${amount(shard)}`,
        ExpressionAttributeValues: { ':n': moved, ...(shard ? { ':a': moved } : {}) },
      },
    },
  ];
  try {
    await transactWrite(items);
  } catch (e) {
    if (!isConditionFailed(e)) throw e;
  }
  return true;
}
