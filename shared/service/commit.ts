import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { AppError } from '../errors';
import { emitFileEvent } from '../events';
import { db, tableName } from '../metadata/client';
import { adjustItem } from '../metadata/quota';
import {
  blobKey,
  type FileRecord,
  fileItem,
  getBlob,
  getFileRecord,
  sessionItem,
  sessionKey,
  type UploadSession,
} from '../metadata/records';
import { isConditionFailed, type TransactItem, transactWrite } from '../metadata/transact';
import { baseName } from '../path';
import { renamedPath } from './keys';
import { derefBlobItem, releaseBytes } from './remove';

/** How the new file's bytes relate to deduplicated blobs. */
export type BlobMode = 'none' | 'claimed' | 'existing';

/** How long a completed direct upload remembers its result, so a repeated complete answers the same. */
const COMPLETED_MEMORY_MS = 24 * 3600 * 1000;

export const isExpired = (r: { expiresAt: number | null }, now = Date.now()) =>
  r.expiresAt !== null && r.expiresAt <= now;

/**
 * Turns a PENDING session into a READY file in one transaction: the file record (unique per path,
 * enforced by its condition), the quota counters (the reservation becomes usage; an overwritten
 * file's bytes are released), the session, and the blob reference count. Retries when another
 * upload to the same path wins the race in between. Returns the record as stored.
 */
export async function commitFile(
  session: UploadSession,
  draft: FileRecord,
  blobMode: BlobMode,
): Promise<FileRecord> {
  let record = draft;
  for (let attempt = 0; attempt < 5; attempt++) {
    const existing = await getFileRecord(record.tenant, record.storage, record.path);
    const live = existing && !isExpired(existing) ? existing : undefined;
    if (live && session.onConflict === 'fail') {
      throw new AppError('ALREADY_EXISTS', 'A file already exists at this path', { path: record.path });
    }
    if (live && session.onConflict === 'rename') {
      const path = renamedPath(draft.path);
      record = { ...record, path, fileName: baseName(path) };
      continue;
    }
    const items: TransactItem[] = [
      {
        Put: {
          TableName: tableName(),
          Item: fileItem(record),
          ConditionExpression: existing ? 'id = :old' : 'attribute_not_exists(pk)',
          ExpressionAttributeValues: existing ? { ':old': existing.id } : undefined,
        },
      },
      adjustItem(record.tenant, {
        used: record.size - (existing?.size ?? 0),
        reserved: -session.reservedBytes,
        files: existing ? 0 : 1,
      }),
      closeSessionItem(session, record),
    ];
    const sameBlob = existing?.blobMd5 && existing.blobMd5 === record.blobMd5;
    if (record.blobMd5 && !(sameBlob && blobMode === 'existing')) items.push(blobRefItem(record, blobMode));
    if (existing?.blobMd5 && !sameBlob)
      items.push(derefBlobItem(existing.tenant, existing.storage, existing.blobMd5));
    try {
      await transactWrite(items);
    } catch (e) {
      if (!isConditionFailed(e)) throw e;
      if (e.failed[2])
        throw new AppError('UPLOAD_NOT_FOUND', 'The upload session expired before it was completed');
      if (e.failed[3]) {
        throw new AppError('CONCURRENT_UPDATE', 'The stored content changed during the upload; please retry');
      }
      continue; // the path changed under us: look again
    }
    if (existing && existing.key !== record.key) await releaseBytes(existing);
    await emitFileEvent('FileUploaded', record);
    return record;
  }
  throw new AppError('CONCURRENT_UPDATE', 'The path is being changed concurrently; please retry');
}

function closeSessionItem(session: UploadSession, record: FileRecord): TransactItem {
  const pending = {
    ConditionExpression: '#s = :pending',
    ExpressionAttributeNames: { '#s': 'status' },
    ExpressionAttributeValues: { ':pending': 'PENDING' },
  };
  if (session.kind === 'stream') {
    return {
      Delete: { TableName: tableName(), Key: sessionKey(session.tenant, session.uploadId), ...pending },
    };
  }
  // A direct upload keeps a COMPLETED marker for a while, so that a repeated complete (S3 events
  // arrive at least once) finds the result instead of a missing session.
  const completed: UploadSession = {
    ...session,
    status: 'COMPLETED',
    path: record.path,
    reservedBytes: 0,
    expiresAt: Date.now() + COMPLETED_MEMORY_MS,
  };
  return { Put: { TableName: tableName(), Item: sessionItem(completed), ...pending } };
}

function blobRefItem(record: FileRecord, blobMode: BlobMode): TransactItem {
  const Key = blobKey(record.tenant, record.storage, record.blobMd5 as string);
  if (blobMode === 'claimed') {
    // The claim becomes a READY blob with its first reference and leaves the expiry index.
    return {
      Update: {
        TableName: tableName(),
        Key,
        UpdateExpression: 'SET #st = :ready, refCount = :one REMOVE expShard, expiresAt, #ttl, #owner',
        ConditionExpression: '#owner = :me',
        ExpressionAttributeNames: { '#st': 'state', '#ttl': 'ttl', '#owner': 'owner' },
        ExpressionAttributeValues: { ':ready': 'READY', ':one': 1, ':me': record.id },
      },
    };
  }
  return {
    Update: {
      TableName: tableName(),
      Key,
      UpdateExpression: 'ADD refCount :one',
      ConditionExpression: '#st = :ready AND refCount > :zero',
      ExpressionAttributeNames: { '#st': 'state' },
      ExpressionAttributeValues: { ':ready': 'READY', ':one': 1, ':zero': 0 },
    },
  };
}

/**
 * Gives up a blob claim we still hold: the object goes first and the claim second, so no other
 * upload can claim the key (and write it) between the two. A claim that is no longer ours (reaped
 * by the sweeper after hours) is left alone, with its object.
 */
export async function abandonClaim(
  blob: { tenant: string; storage: string; md5: string; key: string },
  owner: string,
  deleteObject: () => Promise<void>,
): Promise<void> {
  const current = await getBlob(blob.tenant, blob.storage, blob.md5);
  if (current?.owner !== owner || current.state !== 'WRITING') return;
  await deleteObject();
  try {
    await db().send(
      new DeleteCommand({
        TableName: tableName(),
        Key: blobKey(blob.tenant, blob.storage, blob.md5),
        ConditionExpression: '#owner = :me',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':me': owner },
      }),
    );
  } catch (e) {
    if ((e as Error).name !== 'ConditionalCheckFailedException') throw e;
  }
}

/** The READY record a session becomes, once its bytes are stored at `key` and hashed. */
export function recordFromSession(
  session: UploadSession,
  stored: { key: string; size: number; md5: string; sha256: string; blobMd5?: string },
): FileRecord {
  return {
    id: session.uploadId,
    tenant: session.tenant,
    storage: session.storage,
    path: session.path,
    fileName: baseName(session.path),
    contentType: session.contentType,
    ...stored,
    status: 'READY',
    visibility: session.visibility,
    uploadTime: new Date().toISOString(),
    uploadUser: session.uploadUser,
    updateUserId: session.uploadUser,
    expiresAt: session.expires ? Date.now() + session.expires * 1000 : null,
    retentionSeconds: session.expires ?? null,
  };
}
