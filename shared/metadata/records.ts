import { createHash } from 'node:crypto';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { getConfig } from '../config';
import { db, tableName } from './client';
import { EXPIRY_INDEX, EXPIRY_SHARDS } from './schema';

export type Visibility = 'private' | 'public';
export type OnConflict = 'overwrite' | 'rename' | 'fail';

/** A stored file (status READY). Item at F#{tenant}#{storage} / {path}. */
export interface FileRecord {
  id: string;
  tenant: string;
  storage: string;
  path: string;
  /** The object's key in the backend. */
  key: string;
  fileName: string;
  contentType: string;
  size: number;
  md5: string;
  sha256?: string;
  status: 'READY';
  visibility: Visibility;
  uploadTime: string;
  uploadUser: string;
  updateUserId: string;
  /** epoch ms, or null for files that never expire */
  expiresAt: number | null;
  /** the `expires` given at upload, in seconds */
  retentionSeconds: number | null;
  /** set when the bytes live in a deduplicated blob (B#... item) shared by reference */
  blobMd5?: string;
}

/** A PENDING upload: holds the quota reservation until it is committed, released or reaped. */
export interface UploadSession {
  uploadId: string;
  tenant: string;
  storage: string;
  path: string;
  key: string;
  kind: 'stream' | 'direct';
  status: 'PENDING' | 'COMPLETED';
  reservedBytes: number;
  contentType: string;
  md5?: string;
  expires?: number;
  visibility: Visibility;
  onConflict: OnConflict;
  uploadUser: string;
  createdAt: string;
  /** epoch ms after which the sweeper reaps it */
  expiresAt: number;
}

/** One stored copy of content shared by every file uploaded with the same md5. */
export interface BlobItem {
  tenant: string;
  storage: string;
  md5: string;
  key: string;
  state: 'WRITING' | 'READY';
  refCount: number;
  owner?: string;
  expiresAt?: number;
}

export const fileKey = (tenant: string, storage: string, path: string) => ({
  pk: `F#${tenant}#${storage}`,
  sk: path,
});
export const sessionKey = (tenant: string, uploadId: string) => ({ pk: `U#${tenant}`, sk: uploadId });
export const blobKey = (tenant: string, storage: string, md5: string) => ({
  pk: `B#${tenant}#${storage}`,
  sk: md5,
});

/** Attributes that put an item into the sparse expiry index (and set the TTL backstop). */
export function expiryAttributes(id: string, expiresAt: number | null | undefined) {
  if (expiresAt === null || expiresAt === undefined) return {};
  const shard = createHash('sha1').update(id).digest().readUInt8(0) % EXPIRY_SHARDS;
  return {
    expShard: `EXP#${shard}`,
    expiresAt,
    ttl: Math.ceil(expiresAt / 1000) + getConfig().ttlGraceSeconds,
  };
}

/** Strips the storage attributes from an item. */
function strip<T>(item: Record<string, unknown> | undefined): T | undefined {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, expShard: _s, ttl: _t, ...rest } = item;
  return rest as T;
}

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

export async function getSession(tenant: string, uploadId: string): Promise<UploadSession | undefined> {
  const { Item } = await db().send(
    new GetCommand({ TableName: tableName(), Key: sessionKey(tenant, uploadId), ConsistentRead: true }),
  );
  return strip<UploadSession>(Item);
}

export async function getBlob(tenant: string, storage: string, md5: string): Promise<BlobItem | undefined> {
  const { Item } = await db().send(
    new GetCommand({ TableName: tableName(), Key: blobKey(tenant, storage, md5), ConsistentRead: true }),
  );
  return strip<BlobItem>(Item);
}

export function fileItem(record: FileRecord) {
  // expiresAt is a key of the expiry index: it must be a number or absent, never NULL.
  const { expiresAt, ...rest } = record;
  return {
    ...fileKey(record.tenant, record.storage, record.path),
    ...rest,
    ...expiryAttributes(record.id, expiresAt),
  };
}

/** A stored file item back as a record (absent expiresAt = never expires). */
function toFileRecord(item: Record<string, unknown> | undefined): FileRecord | undefined {
  const record = strip<FileRecord>(item);
  return record && { ...record, expiresAt: record.expiresAt ?? null };
}

export function sessionItem(session: UploadSession) {
  return {
    ...sessionKey(session.tenant, session.uploadId),
    ...session,
    ...expiryAttributes(session.uploadId, session.expiresAt),
  };
}

/** Files of a tenant in one storage, in path order (UTF-8 byte order), one page. */
export async function queryFiles(
  tenant: string,
  storage: string,
  options: { prefix?: string; after?: string; limit: number },
): Promise<{ records: FileRecord[]; last?: string }> {
  const pk = fileKey(tenant, storage, '').pk;
  const { Items = [], LastEvaluatedKey } = await db().send(
    new QueryCommand({
      TableName: tableName(),
      KeyConditionExpression: options.prefix ? 'pk = :pk AND begins_with(sk, :prefix)' : 'pk = :pk',
      ExpressionAttributeValues: { ':pk': pk, ...(options.prefix ? { ':prefix': options.prefix } : {}) },
      ExclusiveStartKey: options.after ? { pk, sk: options.after } : undefined,
      Limit: options.limit,
    }),
  );
  return {
    records: Items.map((i) => toFileRecord(i) as FileRecord),
    last: LastEvaluatedKey ? (LastEvaluatedKey.sk as string) : undefined,
  };
}

/** Every item of one partition, page by page (recalculation). */
export async function* queryPartition<T>(pk: string): AsyncGenerator<T> {
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db().send(
      new QueryCommand({
        TableName: tableName(),
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        ExclusiveStartKey: start,
      }),
    );
    for (const item of page.Items ?? []) yield strip<T>(item) as T;
    start = page.LastEvaluatedKey;
  } while (start);
}

/** Keys of items whose expiresAt has passed, from one shard of the sparse expiry index. */
export async function queryExpired(
  shard: number,
  now: number,
  limit: number,
  start?: Record<string, unknown>,
) {
  const page = await db().send(
    new QueryCommand({
      TableName: tableName(),
      IndexName: EXPIRY_INDEX,
      KeyConditionExpression: 'expShard = :s AND expiresAt <= :now',
      ExpressionAttributeValues: { ':s': `EXP#${shard}`, ':now': now },
      Limit: limit,
      ExclusiveStartKey: start,
    }),
  );
  // Index items carry the index keys too; the table key is pk + sk alone.
  const keys = (page.Items ?? []).map((i) => ({ pk: i.pk as string, sk: i.sk as string }));
  return { keys, next: page.LastEvaluatedKey };
}
