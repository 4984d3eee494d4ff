import { DeleteCommand, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { getConfig } from '../config';
import {
  claimItem,
  dropReference,
  type Garbage,
  getBlob,
  pinItem,
  putGarbageItem,
  type Release,
  readyItem,
  releaseBytesOf,
  unclaimItem,
} from './blobs';
import { db, tableName } from './client';
import {
  type BlobItem,
  type FileRecord,
  fileItem,
  isExactly,
  sessionItem,
  sessionKey,
  strip,
  sweepAttributes,
  type UploadSession,
} from './items';
import { adjustItem, anyQuotaShard, borrowAllowance, ensureQuota, reserveItem } from './quota';
import { isConditionalCheckFailed, isConditionFailed, type TransactItem, transactWrite } from './transact';

/** How long a completed direct upload remembers its result, so a repeated complete answers the same. */
export const COMPLETED_MEMORY_MS = 24 * 3600 * 1000;

export async function getSession(tenant: string, uploadId: string): Promise<UploadSession | undefined> {
  const { Item } = await db().send(
    new GetCommand({ TableName: tableName(), Key: sessionKey(tenant, uploadId), ConsistentRead: true }),
  );
  return strip<UploadSession>(Item);
}

const pending = (session: UploadSession, extra = '') => ({
  ConditionExpression: `#s = :pending AND reservedBytes = :reserved${extra}`,
  ExpressionAttributeNames: { '#s': 'status' },
  ExpressionAttributeValues: { ':pending': 'PENDING', ':reserved': session.reservedBytes },
});

/**
 * Opens an upload session: the PENDING item, its quota reservation and its use of a blob (a new
 * claim, or a pin on a READY blob given as `pinned`) in one transaction, so a reservation or a
 * claim always has an item the sweeper can find and end if the upload is abandoned.
 */
export async function openSession(
  session: UploadSession,
  pinned?: BlobItem,
): Promise<'ok' | 'quota' | 'blob'> {
  // A shard of the tenant's counter for this session's reservation, kept on the session: its
  // growth, its commit and its release all go to the same shard.
  session.quotaShard ??= anyQuotaShard();
  const shard = session.quotaShard;
  const items = (): TransactItem[] => {
    const list: TransactItem[] = [
      reserveItem(session.tenant, session.reservedBytes, shard),
      {
        Put: {
          TableName: tableName(),
          Item: sessionItem(session),
          ConditionExpression: 'attribute_not_exists(pk)',
        },
      },
    ];
    if (session.blob?.mode === 'claimed') {
      list.push(
        claimItem(
          { tenant: session.tenant, storage: session.storage, md5: session.blob.md5, key: session.blob.key },
          session.uploadId,
        ),
      );
    } else if (session.blob?.mode === 'pinned' && pinned) {
      list.push(pinItem(pinned));
    }
    return list;
  };
  for (let attempt = 0; attempt < 8; attempt++) {
    try {
      await transactWrite(items());
      return 'ok';
    } catch (e) {
      if (!isConditionFailed(e)) throw e;
      if (e.failed[2]) return 'blob';
      if (!e.failed[0]) throw e;
      // The counter may simply not exist yet (first upload of a tenant): create it once and retry.
      if (attempt === 0) await ensureQuota(session.tenant);
      // Its shard is full: borrow from the others, unless the whole counter has no room.
      else if (!(await borrowAllowance(session.tenant, shard, session.reservedBytes))) return 'quota';
    }
  }
  return 'quota';
}

/** Reserves `bytes` more for a session whose upload outgrew its reservation (bodies of unknown length). */
export async function growReservation(
  session: UploadSession,
  bytes: number,
): Promise<'ok' | 'quota' | 'closed'> {
  for (let attempt = 0; ; attempt++) {
    const outcome = await tryGrowReservation(session, bytes);
    if (outcome !== 'quota' || attempt >= 7) return outcome;
    if (!(await borrowAllowance(session.tenant, session.quotaShard ?? 0, bytes))) return 'quota';
  }
}

async function tryGrowReservation(session: UploadSession, bytes: number): Promise<'ok' | 'quota' | 'closed'> {
  try {
    await transactWrite([
      reserveItem(session.tenant, bytes, session.quotaShard ?? 0),
      {
        Update: {
          TableName: tableName(),
          Key: sessionKey(session.tenant, session.uploadId),
          UpdateExpression: 'ADD reservedBytes :n, version :one',
          ...pending(session),
          ExpressionAttributeValues: {
            ...pending(session).ExpressionAttributeValues,
            ':n': bytes,
            ':one': 1,
          },
        },
      },
    ]);
    session.reservedBytes += bytes;
    session.version = (session.version ?? 0) + 1;
    return 'ok';
  } catch (e) {
    if (!isConditionFailed(e)) throw e;
    return e.failed[0] ? 'quota' : 'closed';
  }
}

/** Moves a live session's deadline: an upload that is still receiving bytes is not reaped. */
export const heartbeat = (session: UploadSession, expiresAt: number): Promise<boolean> =>
  movePending(session, expiresAt, false);

/**
 * Sets a PENDING session's deadline (and, for `verifying`, marks it handed to an asynchronous
 * finalize), bumping its version. False when it is no longer PENDING.
 */
async function movePending(session: UploadSession, expiresAt: number, verifying: boolean): Promise<boolean> {
  const key = sessionKey(session.tenant, session.uploadId);
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: key,
        UpdateExpression: `SET ${verifying ? 'verifying = :t, ' : ''}expiresAt = :e, sweepAt = :e, sweepShard = :shard ADD version :one`,
        ConditionExpression: '#s = :pending',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: {
          ...(verifying ? { ':t': true } : {}),
          ':e': expiresAt,
          ':one': 1,
          ':pending': 'PENDING',
          ':shard': sweepAttributes(key, expiresAt).sweepShard,
        },
      }),
    );
    session.expiresAt = expiresAt;
    session.version = (session.version ?? 0) + 1;
    if (verifying) session.verifying = true;
    return true;
  } catch (e) {
    if (isConditionalCheckFailed(e)) return false;
    throw e;
  }
}

/**
 * A finalize attempt takes the session's lease (one finalizer at a time; a holder that died loses
 * it when it runs out) and records the fresh key it will promote the staging object to, so that
 * key is owned by the session before any byte is written there. Returns the session as it was
 * before (its `finalizeKey` is a dead attempt's, for the new holder to delete), or null if a live
 * lease is held or the session is no longer PENDING.
 */
export async function takeLease(
  session: UploadSession,
  attempt: string,
  finalizeKey: string,
  leaseUntil: number,
  now = Date.now(),
): Promise<UploadSession | null> {
  const key = sessionKey(session.tenant, session.uploadId);
  const expiresAt = Math.max(session.expiresAt, leaseUntil);
  try {
    const { Attributes } = await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: key,
        UpdateExpression:
          'SET finalizer = :a, finalizeKey = :k, leaseUntil = :l, expiresAt = :e, sweepAt = :e, sweepShard = :shard ADD version :one',
        ConditionExpression: '#s = :pending AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: {
          ':a': attempt,
          ':one': 1,
          ':k': finalizeKey,
          ':l': leaseUntil,
          ':e': expiresAt,
          ':now': now,
          ':pending': 'PENDING',
          ':shard': sweepAttributes(key, expiresAt).sweepShard,
        },
        ReturnValues: 'ALL_OLD',
      }),
    );
    return strip<UploadSession>(Attributes) ?? null;
  } catch (e) {
    if (isConditionalCheckFailed(e)) return null;
    throw e;
  }
}

/**
 * Gives the lease back, while this attempt still holds it on a PENDING session (a COMPLETED one is
 * never touched). `discard`: the key the attempt may have written, which becomes garbage in the
 * same transaction, so it is never left without an owner. Returns whether the lease was released.
 */
export async function releaseLease(
  session: UploadSession,
  attempt: string,
  discard?: string,
): Promise<boolean> {
  const release: TransactItem = {
    Update: {
      TableName: tableName(),
      Key: sessionKey(session.tenant, session.uploadId),
      UpdateExpression: 'REMOVE finalizer, finalizeKey, leaseUntil ADD version :one',
      ConditionExpression: '#s = :pending AND finalizer = :a',
      ExpressionAttributeNames: { '#s': 'status' },
      ExpressionAttributeValues: { ':a': attempt, ':pending': 'PENDING', ':one': 1 },
    },
  };
  const garbage = discard ? [{ tenant: session.tenant, storage: session.storage, key: discard }] : [];
  try {
    await transactWrite([release, ...garbage.map((g) => putGarbageItem(g, 'failed finalize attempt'))]);
    return true;
  } catch (e) {
    if (isConditionFailed(e)) return false;
    throw e;
  }
}

/** Every object a PENDING session owns (what becomes garbage when it ends without a file). */
export function ownedKeys(session: UploadSession): string[] {
  const keys = new Set<string>();
  // A stream upload writes its own key, or a blob it claimed; a pinned one writes nothing.
  if (session.kind === 'direct' || !session.blob) keys.add(session.key);
  if (session.blob?.mode === 'claimed') keys.add(session.blob.key);
  if (session.finalizeKey) keys.add(session.finalizeKey);
  return [...keys];
}

/**
 * Ends a PENDING session without a file (the upload failed, was refused, or was abandoned and is
 * reaped): in one transaction the item goes, the reservation is given back, a claim is given up
 * or a pin dropped, and every object the session owned becomes garbage. Conditioned on the session
 * being exactly as seen (`exact`, for the sweeper and the audit: every change to a session bumps
 * its `version`, so a heartbeat or a finalize lease in between wins, and the garbage listed is
 * exactly what it owns) or on this attempt's lease (`expectFinalizer`, so only the lease holder
 * refuses an upload). Returns false if someone else ended or changed it first.
 */
export async function endSession(
  session: UploadSession,
  options: {
    reason: string;
    exact?: boolean;
    expectFinalizer?: string;
    /** keep a FAILED marker with the answer, for a client that polls (asynchronous finalize) */
    failure?: { code: string; message: string };
  },
): Promise<{ ended: boolean; garbage: Garbage[] }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const garbage: Garbage[] = ownedKeys(session).map((key) => ({
      tenant: session.tenant,
      storage: session.storage,
      key,
      // The parts of a multipart upload not yet assembled into the staging key are bytes it owns.
      ...(key === session.key && session.multipart ? { multipartUploadId: session.multipart.uploadId } : {}),
    }));
    const extra = [
      options.exact
        ? session.version === undefined
          ? ' AND attribute_not_exists(version)'
          : ' AND version = :v'
        : '',
      options.expectFinalizer !== undefined ? ' AND finalizer = :f' : '',
    ].join('');
    const condition = pending(session, extra);
    const guarded = {
      ...condition,
      ExpressionAttributeValues: {
        ...condition.ExpressionAttributeValues,
        ...(options.exact && session.version !== undefined ? { ':v': session.version } : {}),
        ...(options.expectFinalizer !== undefined ? { ':f': options.expectFinalizer } : {}),
      },
    };
    const items: TransactItem[] = [
      options.failure
        ? { Put: { TableName: tableName(), Item: failedMarker(session, options.failure), ...guarded } }
        : {
            Delete: { TableName: tableName(), Key: sessionKey(session.tenant, session.uploadId), ...guarded },
          },
      adjustItem(session.tenant, { reserved: -session.reservedBytes }, session.quotaShard ?? 0),
      ...garbage.map((g) => putGarbageItem(g, options.reason)),
    ];
    if (session.blob) {
      const blob = await getBlob(session.tenant, session.storage, session.blob.md5);
      if (session.blob.mode === 'claimed' && blob?.state === 'WRITING' && blob.owner === session.uploadId) {
        items.push(unclaimItem(blob, session.uploadId));
      } else if (session.blob.mode === 'pinned' && blob?.state === 'READY' && blob.key === session.blob.key) {
        const drop = dropReference(blob, options.reason);
        items.push(...drop.items);
        garbage.push(...drop.garbage);
      }
    }
    try {
      await transactWrite(items);
      return { ended: true, garbage };
    } catch (e) {
      if (!isConditionFailed(e)) throw e;
      if (e.failed[0]) return { ended: false, garbage: [] };
      // The blob changed between the read and the write: read it again.
    }
  }
  throw new Error(`session ${session.uploadId} could not be ended: its blob keeps changing`);
}

export type CommitOutcome = 'committed' | 'path-changed' | 'session-closed' | 'blob-changed';

/**
 * Turns a PENDING session into a READY file in one transaction: the file record (unique per path:
 * its condition is that the path holds `existing`, or nothing), the quota counters (the
 * reservation becomes usage; a replaced file's bytes are given back), the session (deleted, or
 * for a direct upload kept as a COMPLETED marker), a claimed blob made READY, and the replaced
 * file's bytes released (its object, or its blob reference, to garbage). A pin needs no change:
 * the reference it holds becomes the new file's.
 */
export async function commitSession(input: {
  session: UploadSession;
  record: FileRecord;
  existing?: FileRecord;
  finalizer?: string;
}): Promise<{ outcome: CommitOutcome; garbage: Garbage[] }> {
  const { session, record, existing } = input;
  const release: Release = existing ? await releaseBytesOf(existing, 'replaced') : { items: [], garbage: [] };
  const items: TransactItem[] = [
    {
      Put: {
        TableName: tableName(),
        Item: fileItem(record),
        // A replaced file's thumbnails go with it: all of those reserved when it was read.
        ...(existing ? isExactly(existing) : { ConditionExpression: 'attribute_not_exists(pk)' }),
      },
    },
    adjustItem(
      record.tenant,
      {
        used: record.size - (existing?.size ?? 0),
        reserved: -session.reservedBytes,
        files: existing ? 0 : 1,
        storage: record.storage,
      },
      session.quotaShard ?? 0,
    ),
    closeItem(session, record, input.finalizer),
  ];
  if (session.blob?.mode === 'claimed') {
    items.push(readyItem(session.tenant, session.storage, session.blob.md5, session.uploadId));
  }
  items.push(...release.items);
  try {
    await transactWrite(items);
    return { outcome: 'committed', garbage: release.garbage };
  } catch (e) {
    if (!isConditionFailed(e)) throw e;
    const outcome: CommitOutcome = e.failed[2]
      ? 'session-closed'
      : e.failed[0]
        ? 'path-changed'
        : 'blob-changed';
    return { outcome, garbage: [] };
  }
}

function closeItem(session: UploadSession, record: FileRecord, finalizer?: string): TransactItem {
  const condition = pending(session, finalizer ? ' AND finalizer = :f' : '');
  const values = { ...condition.ExpressionAttributeValues, ...(finalizer ? { ':f': finalizer } : {}) };
  const key = sessionKey(session.tenant, session.uploadId);
  if (session.kind === 'stream') {
    return { Delete: { TableName: tableName(), Key: key, ...condition, ExpressionAttributeValues: values } };
  }
  // A direct upload keeps a COMPLETED marker for a while, so that a repeated complete (S3 events
  // arrive at least once) finds the result. It owns no object, so DynamoDB TTL may delete it.
  const memoryUntil = Date.now() + COMPLETED_MEMORY_MS;
  return {
    Update: {
      TableName: tableName(),
      Key: key,
      UpdateExpression:
        'SET #s = :completed, #path = :path, reservedBytes = :zero, committedKey = :key, expiresAt = :m, sweepAt = :m, sweepShard = :shard, #ttl = :ttl REMOVE leaseUntil, finalizer, finalizeKey',
      ...condition,
      ExpressionAttributeNames: { ...condition.ExpressionAttributeNames, '#path': 'path', '#ttl': 'ttl' },
      ExpressionAttributeValues: {
        ...values,
        ':completed': 'COMPLETED',
        ':path': record.path,
        ':zero': 0,
        ':key': record.key,
        ':m': memoryUntil,
        ':shard': sweepAttributes(key, memoryUntil).sweepShard,
        ':ttl': Math.ceil(memoryUntil / 1000) + getConfig().ttlGraceSeconds,
      },
    },
  };
}

/** Forgets a COMPLETED marker whose memory ran out (unless it was renewed since). */
/** What a refused upload leaves for its client to read: no reservation, no objects, the answer. */
function failedMarker(session: UploadSession, error: { code: string; message: string }) {
  const memoryUntil = Date.now() + COMPLETED_MEMORY_MS;
  const {
    blob: _b,
    multipart: _m,
    finalizer: _f,
    finalizeKey: _k,
    leaseUntil: _l,
    verifying: _v,
    version: _ver,
    ...rest
  } = session;
  return {
    ...sessionItem({ ...rest, status: 'FAILED', error, reservedBytes: 0, expiresAt: memoryUntil }),
    ttl: Math.ceil(memoryUntil / 1000) + getConfig().ttlGraceSeconds,
  };
}

/**
 * Hands a PENDING direct upload to an asynchronous finalize: marked, and due for the sweeper at
 * `until` in case nothing else finishes it first.
 */
export const markVerifying = (session: UploadSession, until: number): Promise<boolean> =>
  movePending(session, until, true);

export async function forgetCompleted(session: UploadSession): Promise<void> {
  try {
    await db().send(
      new DeleteCommand({
        TableName: tableName(),
        Key: sessionKey(session.tenant, session.uploadId),
        ConditionExpression: '(#s = :completed OR #s = :failed) AND expiresAt = :e',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: {
          ':completed': 'COMPLETED',
          ':failed': 'FAILED',
          ':e': session.expiresAt,
        },
      }),
    );
  } catch (e) {
    if (!isConditionalCheckFailed(e)) throw e;
  }
}
