import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { AppError } from '../errors';
import { db, tableName } from '../metadata/client';
import { adjustItem, ensureQuota, reserveItem } from '../metadata/quota';
import { blobKey, expiryAttributes, sessionItem, sessionKey, type UploadSession } from '../metadata/records';
import { isConditionFailed, transactWrite } from '../metadata/transact';

/**
 * Opens an upload session: the PENDING item and its quota reservation are written in one
 * transaction, so a reservation always has an item the sweeper can find and release if the upload
 * is abandoned (a crashed Lambda, a client that never sends the bytes).
 */
export async function openSession(session: UploadSession): Promise<void> {
  const items = () => [
    reserveItem(session.tenant, session.reservedBytes),
    {
      Put: {
        TableName: tableName(),
        Item: sessionItem(session),
        ConditionExpression: 'attribute_not_exists(pk)',
      },
    },
  ];
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await transactWrite(items());
      return;
    } catch (e) {
      if (!isConditionFailed(e) || !e.failed[0]) throw e;
      // The counter may simply not exist yet (first upload of a tenant): create it once and retry.
      if (attempt === 0) await ensureQuota(session.tenant);
    }
  }
  throw new AppError('QUOTA_EXCEEDED', 'The upload does not fit in the remaining quota', {
    requestedBytes: session.reservedBytes,
  });
}

/** Gives a PENDING session's reservation back. Returns false if it was already closed (e.g. reaped). */
export async function releaseSession(session: Pick<UploadSession, 'tenant' | 'uploadId' | 'reservedBytes'>) {
  try {
    await transactWrite([
      {
        Delete: {
          TableName: tableName(),
          Key: sessionKey(session.tenant, session.uploadId),
          ConditionExpression: '#s = :pending',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':pending': 'PENDING' },
        },
      },
      adjustItem(session.tenant, { reserved: -session.reservedBytes }),
    ]);
    return true;
  } catch (e) {
    if (isConditionFailed(e)) return false;
    throw e;
  }
}

/** Claims the right to write a new deduplicated blob; false if another upload holds or finished it. */
export async function claimBlob(
  blob: { tenant: string; storage: string; md5: string; key: string },
  owner: string,
  expiresAt: number,
): Promise<boolean> {
  try {
    await db().send(
      new PutCommand({
        TableName: tableName(),
        Item: {
          ...blobKey(blob.tenant, blob.storage, blob.md5),
          ...blob,
          state: 'WRITING',
          refCount: 0,
          owner,
          ...expiryAttributes(owner, expiresAt),
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    return true;
  } catch (e) {
    if ((e as Error).name === 'ConditionalCheckFailedException') return false;
    throw e;
  }
}
