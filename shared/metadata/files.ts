import { GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type Garbage, garbageBatch, releaseBytesOf } from './blobs';
import { db, tableName } from './client';
import {
  type FileRecord,
  fileKey,
  isExactly,
  THUMBNAIL_SETTLE_MS,
  thumbnailKey,
  toFileRecord,
} from './items';
import { adjustItem } from './quota';
import { isConditionalCheckFailed, isConditionFailed, type TransactItem, transactWrite } from './transact';

export async function getFileRecord(
  tenant: string,
  storage: string,
  path: string,
): Promise<FileRecord | undefined> {
  const { Item } = await db().send(
    new GetCommand({ TableName: tableName(), Key: fileKey(tenant, storage, path), ConsistentRead: true }),
  );
  return toFileRecord(Item);
}

/**
 * Revokes a file's links: a new generation, on this very file (same id). Returns false when the
 * file was deleted or replaced meanwhile, which killed those links already.
 */
export async function bumpLinkGeneration(record: FileRecord): Promise<boolean> {
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: fileKey(record.tenant, record.storage, record.path),
        UpdateExpression: 'SET linkGeneration = if_not_exists(linkGeneration, :zero) + :one',
        ConditionExpression: 'id = :id',
        ExpressionAttributeValues: { ':id': record.id, ':zero': 0, ':one': 1 },
      }),
    );
    return true;
  } catch (e) {
    if (isConditionalCheckFailed(e)) return false;
    throw e;
  }
}

/**
 * Files of a tenant in one storage, in path order (UTF-8 byte order), one page: those under
 * `prefix`, or with `from` every path from there on (inclusive; the caller stops where its prefix
 * ends: a folder listing skips a whole sub-folder this way, in one request).
 */
export async function queryFiles(
  tenant: string,
  storage: string,
  options: { prefix?: string; from?: string; after?: string; limit: number },
): Promise<{ records: FileRecord[]; last?: string }> {
  const pk = fileKey(tenant, storage, '').pk;
  const condition =
    options.from !== undefined
      ? { KeyConditionExpression: 'pk = :pk AND sk >= :from', values: { ':from': options.from } }
      : options.prefix
        ? {
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
            values: { ':prefix': options.prefix },
          }
        : { KeyConditionExpression: 'pk = :pk', values: {} };
  const { Items = [], LastEvaluatedKey } = await db().send(
    new QueryCommand({
      TableName: tableName(),
      KeyConditionExpression: condition.KeyConditionExpression,
      ExpressionAttributeValues: { ':pk': pk, ...condition.values },
      ExclusiveStartKey: options.after ? { pk, sk: options.after } : undefined,
      Limit: options.limit,
      ConsistentRead: true,
    }),
  );
  return {
    records: Items.map((i) => toFileRecord(i) as FileRecord),
    last: LastEvaluatedKey ? (LastEvaluatedKey.sk as string) : undefined,
  };
}

/** Every file of a tenant in one storage, page by page (recount, audit). */
export async function* filesOf(tenant: string, storage: string): AsyncGenerator<FileRecord> {
  let after: string | undefined;
  do {
    const page = await queryFiles(tenant, storage, { after, limit: 500 });
    yield* page.records;
    after = page.last;
  } while (after);
}

/**
 * Removes a file record and gives its bytes back in one transaction: the record (conditioned on
 * still being this one, same id: a second delete, two sweepers, or an expiry racing a re-upload
 * can never release twice or remove a newer file), the quota, and the bytes (its object, or its
 * reference to a blob, and its thumbnails, to garbage). Returns whether this call removed it, and
 * the garbage made.
 */
export async function removeFileRecord(
  seen: FileRecord,
  reason: 'deleted' | 'expired' | 'lost',
): Promise<{ removed: boolean; garbage: Garbage[] }> {
  let record = seen;
  for (let attempt = 0; attempt < 5; attempt++) {
    const release = await releaseBytesOf(record, reason);
    const items: TransactItem[] = [
      {
        Delete: {
          TableName: tableName(),
          Key: fileKey(record.tenant, record.storage, record.path),
          ...isExactly(record),
        },
      },
      adjustItem(record.tenant, { used: -record.size, files: -1 }),
      ...release.items,
    ];
    try {
      await transactWrite(items);
      return { removed: true, garbage: release.garbage };
    } catch (e) {
      if (!isConditionFailed(e)) throw e;
      if (e.failed[0]) {
        // Another file, or none, at the path: not this call's to remove. The same file with a
        // thumbnail reserved since it was read: read it again, so that thumbnail goes too.
        const now = await getFileRecord(record.tenant, record.storage, record.path);
        if (now?.id !== record.id) return { removed: false, garbage: [] };
        record = now;
      }
      // Or the blob's reference count moved between the read and the write: read it again.
    }
  }
  throw new Error(`file ${record.path} could not be removed: its blob or its thumbnails keep changing`);
}

export type Reservation = 'reserved' | 'full' | 'gone';

/**
 * Reserves a thumbnail variant on its file before the variant's object is written (so whoever
 * removes or replaces the file knows to delete it), and notes the source's image format. At most
 * `maxVariants` per file: past that a thumbnail is rendered but not kept ('full'). 'gone' when the
 * file was removed or replaced meanwhile: nothing may be written for it.
 */
export async function reserveThumbnail(
  record: FileRecord,
  variant: string,
  imageFormat: string,
  maxVariants: number,
): Promise<Reservation> {
  if (record.thumbnails?.includes(variant)) return 'reserved';
  if (maxVariants < 1) return 'full';
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: fileKey(record.tenant, record.storage, record.path),
        UpdateExpression: 'ADD thumbnails :variant SET imageFormat = :format',
        ConditionExpression:
          'id = :id AND (attribute_not_exists(thumbnails) OR size(thumbnails) < :max OR contains(thumbnails, :name))',
        ExpressionAttributeValues: {
          ':variant': new Set([variant]),
          ':name': variant,
          ':format': imageFormat,
          ':id': record.id,
          ':max': maxVariants,
        },
      }),
    );
    return 'reserved';
  } catch (e) {
    if (!isConditionalCheckFailed(e)) throw e;
    const now = await getFileRecord(record.tenant, record.storage, record.path);
    return now?.id === record.id ? 'full' : 'gone';
  }
}

/** Marks a reserved variant as written (served from the cache from now on); false when the file went meanwhile. */
export async function markThumbnailReady(record: FileRecord, variant: string): Promise<boolean> {
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: fileKey(record.tenant, record.storage, record.path),
        UpdateExpression: 'ADD thumbnailsReady :variant',
        ConditionExpression: 'id = :id AND contains(thumbnails, :name)',
        ExpressionAttributeValues: { ':variant': new Set([variant]), ':name': variant, ':id': record.id },
      }),
    );
    return true;
  } catch (e) {
    if (isConditionalCheckFailed(e)) return false;
    throw e;
  }
}

/** Actions one transaction may hold (DynamoDB's limit). */
const MAX_TRANSACTION_ITEMS = 100;
/** Per batch besides the files' deletes: the counter, and the garbage items of the objects and of the thumbnails. */
const BATCH_OVERHEAD = 3;

/**
 * Files of ONE tenant and storage in batches of one transaction each: a delete per file, one
 * garbage item for all their objects (one more for their thumbnails) and one counter update.
 */
export function removalBatches(records: FileRecord[]): FileRecord[][] {
  const size = MAX_TRANSACTION_ITEMS - BATCH_OVERHEAD;
  const batches: FileRecord[][] = [];
  for (let i = 0; i < records.length; i += size) batches.push(records.slice(i, i + size));
  return batches;
}

/**
 * Removes several files of one tenant and storage in ONE transaction (the sweeper's expiry): each
 * record conditioned on being exactly the one read, their objects (and thumbnails) to garbage in
 * one batch item, and the counter moved once by the sum. If any condition fails (a file replaced,
 * removed or given a thumbnail since), nothing happens and `removed` is false: the caller removes
 * those files one by one. Files with deduplicated bytes are not taken (their blob's count is read
 * first, per file).
 */
export async function removeFileRecords(
  records: FileRecord[],
  reason: 'expired',
): Promise<{ removed: boolean; garbage: Garbage[] }> {
  const first = records[0];
  if (!first) return { removed: true, garbage: [] };
  const { tenant, storage } = first;
  if (records.some((r) => r.tenant !== tenant || r.storage !== storage || r.blobMd5)) {
    throw new Error('removeFileRecords takes files of one tenant and storage without deduplicated bytes');
  }
  const objects = garbageBatch(
    tenant,
    storage,
    records.map((r) => r.key),
    reason,
  );
  const thumbnails = records.flatMap((r) => (r.thumbnails ?? []).map((v) => thumbnailKey(r, v)));
  // A render may still be writing one of them: their item settles later (see THUMBNAIL_SETTLE_MS).
  const derived = thumbnails.length
    ? garbageBatch(tenant, storage, thumbnails, `${reason} (thumbnail)`, Date.now() + THUMBNAIL_SETTLE_MS)
    : { items: [], garbage: [] };
  const used = records.reduce((sum, r) => sum + r.size, 0);
  const items: TransactItem[] = [
    ...records.map(
      (record): TransactItem => ({
        Delete: {
          TableName: tableName(),
          Key: fileKey(record.tenant, record.storage, record.path),
          ...isExactly(record),
        },
      }),
    ),
    ...objects.items,
    ...derived.items,
    adjustItem(tenant, { used: -used, files: -records.length }),
  ];
  try {
    await transactWrite(items);
    return { removed: true, garbage: [...objects.garbage, ...derived.garbage] };
  } catch (e) {
    if (isConditionFailed(e)) return { removed: false, garbage: [] };
    throw e;
  }
}
