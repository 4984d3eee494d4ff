import { AppError, serviceBusy } from '../errors';
import { emitFileEvent } from '../events';
import { failpoint } from '../faults';
import { logger } from '../logger';
import type { Garbage } from '../metadata/blobs';
import { getFileRecord } from '../metadata/files';
import { type FileRecord, isExpired, type UploadSession } from '../metadata/items';
import { commitSession, getSession } from '../metadata/sessions';
import { baseName } from '../path';
import { collectGarbage } from './gc';
import { renamedPath } from './keys';

/** The outcome of committing a session: the file, or "the session was ended by someone else". */
export type Committed = { record: FileRecord } | { closed: true };

/**
 * Commits a PENDING session as a READY file (see commitSession for the transaction), deciding
 * what the path's current file means for it: this very upload already committed (a repeated or
 * racing finalize) is success; a live file is a conflict for onConflict=fail, a reason to pick a
 * new name for rename, and the file to replace for overwrite. Retries when the path or a blob
 * changes in between. An error whose outcome is unknown (the transaction may have happened) is
 * settled by reading what the session became, so no caller ever cleans up after a commit that
 * in fact succeeded.
 */
export async function commitRecord(
  session: UploadSession,
  draft: FileRecord,
  finalizer?: string,
): Promise<Committed> {
  let record = draft;
  for (let attempt = 0; attempt < 8; attempt++) {
    const existing = await getFileRecord(record.tenant, record.storage, record.path);
    if (existing?.id === session.uploadId) return { record: existing };
    const live = existing && !isExpired(existing) ? existing : undefined;
    if (live && session.onConflict === 'fail') {
      throw new AppError('ALREADY_EXISTS', 'A file already exists at this path', { path: record.path });
    }
    if (live && session.onConflict === 'rename') {
      const path = renamedPath(draft.path);
      record = { ...record, path, fileName: baseName(path) };
      continue;
    }
    let result: Awaited<ReturnType<typeof commitSession>>;
    try {
      result = await commitSession({ session, record, existing, finalizer });
    } catch (e) {
      const settled = await settle(session, record);
      if (settled) return settled;
      throw e;
    }
    if (result.outcome === 'committed') {
      await afterCommit(record, result.garbage);
      return { record };
    }
    if (result.outcome === 'session-closed') return (await settle(session, record)) ?? { closed: true };
    // path-changed or blob-changed: look again.
  }
  throw serviceBusy(new Error(`the path ${record.path} kept changing during the commit`));
}

/**
 * Nothing after the commit may fail the upload: the file exists, and a caller that saw an error
 * would clean up after a success. The replaced file's objects are garbage items already.
 */
async function afterCommit(record: FileRecord, garbage: Garbage[]): Promise<void> {
  try {
    await failpoint('upload.after-commit');
    await collectGarbage(garbage);
  } catch (e) {
    logger.warn('objects of a replaced file are left to the sweeper', { id: record.id, error: e as Error });
  }
  await emitFileEvent('FileUploaded', record);
}

/**
 * What became of a session whose commit failed or had an unknown outcome: committed as `record`
 * (by this call, or by a racing finalize of the same upload), or not (null).
 */
async function settle(session: UploadSession, record: FileRecord): Promise<Committed | null> {
  const now = await getSession(session.tenant, session.uploadId);
  if (now?.status === 'PENDING') return null;
  const path = now?.status === 'COMPLETED' ? now.path : record.path;
  const file = await getFileRecord(record.tenant, record.storage, path);
  if (file?.id === session.uploadId) return { record: file };
  return now ? { closed: true } : null;
}

/** The READY record a session becomes, once its bytes are stored at `key` (and hashed, where they were read). */
export function recordFromSession(
  session: UploadSession,
  stored: { key: string; size: number; md5?: string; sha256?: string; blobMd5?: string },
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
