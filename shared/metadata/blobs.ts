import { randomUUID } from 'node:crypto';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { db, tableName } from './client';
import {
  type BlobItem,
  blobKey,
  type FileRecord,
  GARBAGE_BATCH_PREFIX,
  garbageItem,
  strip,
  THUMBNAIL_SETTLE_MS,
  thumbnailKey,
} from './items';
import { isConditionalCheckFailed, isConditionFailed, type TransactItem, transactWrite } from './transact';

/** An object that a transaction has just made garbage: its remover deletes it, or the sweeper does. */
export interface Garbage {
  tenant: string;
  storage: string;
  key: string;
  /** a multipart upload into `key` to abort first (its parts are bytes too) */
  multipartUploadId?: string;
  /** epoch ms: a writer may still put the object until then; its item outlives the first delete (see forgetGarbage) */
  settleAt?: number;
  /** The garbage item that records the object when it is a batch item's (its key); else the object's own key. */
  item?: string;
}

/** Transaction items plus the objects they turn into garbage. */
export interface Release {
  items: TransactItem[];
  garbage: Garbage[];
}

export async function getBlob(tenant: string, storage: string, md5: string): Promise<BlobItem | undefined> {
  const { Item } = await db().send(
    new GetCommand({ TableName: tableName(), Key: blobKey(tenant, storage, md5), ConsistentRead: true }),
  );
  return strip<BlobItem>(Item);
}

export const putGarbageItem = (g: Parameters<typeof garbageItem>[0], reason: string): TransactItem => ({
  Put: { TableName: tableName(), Item: garbageItem(g, reason) },
});

/**
 * One garbage item for many objects of one tenant and storage (a removal of many files at once):
 * one write instead of one per object, and one delete when they are gone.
 */
export function garbageBatch(
  tenant: string,
  storage: string,
  keys: string[],
  reason: string,
  settleAt?: number,
): Release {
  const item = `${GARBAGE_BATCH_PREFIX}${randomUUID()}`;
  return {
    items: [putGarbageItem({ tenant, storage, key: item, keys, ...(settleAt ? { settleAt } : {}) }, reason)],
    garbage: keys.map((key) => ({ tenant, storage, key, item, ...(settleAt ? { settleAt } : {}) })),
  };
}

/**
 * What drops one reference to a READY blob, as seen in `blob`: the last reference deletes the item
 * and hands its object to garbage in the same transaction (so no READY blob at refCount 0 ever
 * exists, and a later upload of that content claims a new incarnation under a new key); any other
 * decrements it. Both are conditioned on what was seen, so a concurrent change fails the
 * transaction and the caller reads again.
 */
export function dropReference(blob: BlobItem, reason: string): Release {
  const Key = blobKey(blob.tenant, blob.storage, blob.md5);
  if (blob.refCount <= 1) {
    const garbage = { tenant: blob.tenant, storage: blob.storage, key: blob.key };
    return {
      items: [
        {
          Delete: {
            TableName: tableName(),
            Key,
            ConditionExpression: 'refCount = :rc AND #key = :key',
            ExpressionAttributeNames: { '#key': 'key' },
            ExpressionAttributeValues: { ':rc': blob.refCount, ':key': blob.key },
          },
        },
        putGarbageItem(garbage, reason),
      ],
      garbage: [garbage],
    };
  }
  return {
    items: [
      {
        Update: {
          TableName: tableName(),
          Key,
          UpdateExpression: 'ADD refCount :minus',
          ConditionExpression: 'refCount > :one AND #key = :key',
          ExpressionAttributeNames: { '#key': 'key' },
          ExpressionAttributeValues: { ':minus': -1, ':one': 1, ':key': blob.key },
        },
      },
    ],
    garbage: [],
  };
}

/** What gives back the bytes of a file whose record goes away (delete, expiry, overwrite). */
export async function releaseBytesOf(record: FileRecord, reason: string): Promise<Release> {
  const derived = thumbnailsOf(record, reason);
  if (!record.blobMd5) {
    const garbage = { tenant: record.tenant, storage: record.storage, key: record.key };
    return {
      items: [putGarbageItem(garbage, reason), ...derived.items],
      garbage: [garbage, ...derived.garbage],
    };
  }
  const blob = await getBlob(record.tenant, record.storage, record.blobMd5);
  // A record whose blob is missing has no bytes to give back (the audit reports it).
  if (blob?.state !== 'READY' || blob.key !== record.key) return derived;
  const bytes = dropReference(blob, reason);
  return { items: [...bytes.items, ...derived.items], garbage: [...bytes.garbage, ...derived.garbage] };
}

/**
 * The thumbnails a file reserved (the condition of its removal guarantees these are all of them):
 * deleted at once with the file, and again by the sweeper once no render can still be writing one.
 */
function thumbnailsOf(record: FileRecord, reason: string): Release {
  const settleAt = Date.now() + THUMBNAIL_SETTLE_MS;
  const garbage = (record.thumbnails ?? []).map((variant) => ({
    tenant: record.tenant,
    storage: record.storage,
    key: thumbnailKey(record, variant),
    settleAt,
  }));
  return { items: garbage.map((g) => putGarbageItem(g, `${reason} (thumbnail)`)), garbage };
}

/** Transaction item: a new blob claimed by the session that is about to write it. */
export function claimItem(blob: Omit<BlobItem, 'state' | 'refCount' | 'owner'>, owner: string): TransactItem {
  const item: BlobItem = { ...blob, state: 'WRITING', refCount: 0, owner };
  return {
    Put: {
      TableName: tableName(),
      Item: { ...blobKey(blob.tenant, blob.storage, blob.md5), ...item },
      ConditionExpression: 'attribute_not_exists(pk)',
    },
  };
}

/** Transaction item: one more reference to a READY blob, held by a session while its upload streams. */
export function pinItem(blob: BlobItem): TransactItem {
  return {
    Update: {
      TableName: tableName(),
      Key: blobKey(blob.tenant, blob.storage, blob.md5),
      UpdateExpression: 'ADD refCount :one',
      ConditionExpression: '#st = :ready AND refCount > :zero AND #key = :key',
      ExpressionAttributeNames: { '#st': 'state', '#key': 'key' },
      ExpressionAttributeValues: { ':one': 1, ':zero': 0, ':ready': 'READY', ':key': blob.key },
    },
  };
}

/** Transaction item: the claimed blob becomes READY with its first reference (the new file). */
export function readyItem(tenant: string, storage: string, md5: string, owner: string): TransactItem {
  return {
    Update: {
      TableName: tableName(),
      Key: blobKey(tenant, storage, md5),
      UpdateExpression: 'SET #st = :ready, refCount = :one REMOVE #owner',
      ConditionExpression: '#owner = :me AND #st = :writing',
      ExpressionAttributeNames: { '#st': 'state', '#owner': 'owner' },
      ExpressionAttributeValues: { ':ready': 'READY', ':one': 1, ':me': owner, ':writing': 'WRITING' },
    },
  };
}

/** Transaction item: a claim given up by its owner (its object goes to garbage with it). */
export function unclaimItem(blob: BlobItem, owner: string): TransactItem {
  return {
    Delete: {
      TableName: tableName(),
      Key: blobKey(blob.tenant, blob.storage, blob.md5),
      ConditionExpression: '#owner = :me AND #st = :writing',
      ExpressionAttributeNames: { '#st': 'state', '#owner': 'owner' },
      ExpressionAttributeValues: { ':me': owner, ':writing': 'WRITING' },
    },
  };
}

/**
 * Repair (audit): sets a READY blob's reference count to the number of its users, if it is still
 * `seen` (the count was made after `seen` was read, so an upload or delete in between fails this).
 */
export async function setRefCount(blob: BlobItem, seen: number, refCount: number): Promise<boolean> {
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: blobKey(blob.tenant, blob.storage, blob.md5),
        UpdateExpression: 'SET refCount = :n',
        ConditionExpression: 'refCount = :seen AND #key = :key',
        ExpressionAttributeNames: { '#key': 'key' },
        ExpressionAttributeValues: { ':n': refCount, ':seen': seen, ':key': blob.key },
      }),
    );
    return true;
  } catch (e) {
    if (isConditionalCheckFailed(e)) return false;
    throw e;
  }
}

/**
 * Retires a blob exactly as `seen` (a claim whose session is gone, or a READY blob nobody uses):
 * the item goes and its object becomes garbage, in one transaction. False if it changed.
 */
export async function retireBlob(blob: BlobItem, reason: string): Promise<Release | null> {
  const garbage = { tenant: blob.tenant, storage: blob.storage, key: blob.key };
  const items: TransactItem[] = [
    {
      Delete: {
        TableName: tableName(),
        Key: blobKey(blob.tenant, blob.storage, blob.md5),
        ConditionExpression: '#key = :key AND #st = :st AND refCount = :rc',
        ExpressionAttributeNames: { '#key': 'key', '#st': 'state' },
        ExpressionAttributeValues: { ':key': blob.key, ':st': blob.state, ':rc': blob.refCount },
      },
    },
    putGarbageItem(garbage, reason),
  ];
  try {
    await transactWrite(items);
    return { items, garbage: [garbage] };
  } catch (e) {
    if (isConditionFailed(e)) return null;
    throw e;
  }
}
