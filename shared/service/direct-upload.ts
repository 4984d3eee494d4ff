import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PresignedUpload } from '../backends/contract';
import { getStorage } from '../backends/registry';
import { getConfig } from '../config';
import { AppError, fromStorageError, StorageError } from '../errors';
import {
  type FileRecord,
  getFileRecord,
  getSession,
  type OnConflict,
  type UploadSession,
  type Visibility,
} from '../metadata/records';
import { normalizePath } from '../path';
import { commitFile, isExpired, recordFromSession } from './commit';
import { fileExtension, newId, objectKey } from './keys';
import { Meter } from './meter';
import type { Principal } from './principal';
import { openSession, releaseSession } from './sessions';
import { assertSize, assertTypeAllowed, normalizeContentType } from './validate';

export interface SignUploadInput {
  principal: Principal;
  storage?: string;
  path: string;
  contentType?: string;
  size: number;
  md5?: string;
  expires?: number;
  visibility: Visibility;
  onConflict: OnConflict;
}

export interface SignedUpload extends PresignedUpload {
  uploadId: string;
  path: string;
}

/**
 * getSignUrl: a PENDING session holding a reservation of the declared size, and the backend's
 * instructions for sending the bytes straight to storage. The file becomes READY on completion.
 */
export async function signUpload(input: SignUploadInput): Promise<SignedUpload> {
  const config = getConfig();
  const backend = getStorage(input.storage);
  const path = normalizePath(input.path);
  const contentType = normalizeContentType(input.contentType);
  assertTypeAllowed(contentType);
  assertSize(input.size, config.maxFileBytes);
  if (input.onConflict === 'fail') {
    const existing = await getFileRecord(input.principal.tenant, backend.name, path);
    if (existing && !isExpired(existing))
      throw new AppError('ALREADY_EXISTS', 'A file already exists at this path');
  }
  const uploadId = newId();
  const now = Date.now();
  const session: UploadSession = {
    uploadId,
    tenant: input.principal.tenant,
    storage: backend.name,
    path,
    key: objectKey(input.principal.tenant, uploadId, fileExtension(path)),
    kind: 'direct',
    status: 'PENDING',
    reservedBytes: input.size,
    contentType,
    md5: input.md5,
    expires: input.expires,
    visibility: input.visibility,
    onConflict: input.onConflict,
    uploadUser: input.principal.userId,
    createdAt: new Date(now).toISOString(),
    expiresAt: now + (config.presignTtlSeconds + config.pendingGraceSeconds) * 1000,
  };
  await openSession(session);
  try {
    const instructions = await backend.presignUpload(session.key, {
      contentType,
      maxBytes: input.size,
      expiresIn: config.presignTtlSeconds,
    });
    return { uploadId, path, ...instructions };
  } catch (e) {
    await releaseSession(session);
    throw e instanceof StorageError ? fromStorageError(e) : e;
  }
}

/**
 * Finalizes a direct upload: checks the stored object (present, size <= declared, md5 if given) and
 * commits it, or deletes it and releases the reservation. Idempotent: a repeated call answers with
 * the file it completed.
 */
export async function completeUpload(
  principal: Principal,
  uploadId: string,
  retry = true,
): Promise<FileRecord> {
  const session = await getSession(principal.tenant, uploadId);
  if (!session) throw new AppError('UPLOAD_NOT_FOUND', 'No such upload');
  if (session.status === 'COMPLETED') {
    const record = await getFileRecord(session.tenant, session.storage, session.path);
    if (record?.id === uploadId) return record;
    throw new AppError(
      'UPLOAD_NOT_FOUND',
      'The upload was completed, but its file has since been replaced or deleted',
    );
  }
  try {
    return await finalizeSession(session);
  } catch (e) {
    // A concurrent finalize (e.g. the storage event) won the race: answer with its result.
    if (retry && e instanceof AppError && e.code === 'UPLOAD_NOT_FOUND')
      return completeUpload(principal, uploadId, false);
    throw e;
  }
}

export async function finalizeSession(session: UploadSession): Promise<FileRecord> {
  const backend = getStorage(session.storage);
  const info = await backend.head(session.key);
  if (!info) throw new AppError('UPLOAD_INCOMPLETE', 'No bytes have been uploaded for this upload yet');
  const reject = async (error: AppError) => {
    await backend.delete(session.key);
    await releaseSession(session);
    return error;
  };
  if (info.size > session.reservedBytes) {
    throw await reject(
      new AppError(
        'FILE_TOO_LARGE',
        `The uploaded object is larger than the declared ${session.reservedBytes} bytes`,
      ),
    );
  }
  // Hash the stored bytes: the md5 recorded is always the real one, and a given md5 is verified.
  const meter = new Meter(info.size, info.size);
  const { body } = await backend.get(session.key);
  await pipeline(body, meter, new Writable({ write: (_c, _e, done) => done() }));
  const digests = await meter.digests();
  if (session.md5 && session.md5 !== digests.md5) {
    throw await reject(new AppError('MD5_MISMATCH', 'The md5 given does not match the uploaded bytes'));
  }
  const record = recordFromSession(session, { key: session.key, size: info.size, ...digests });
  try {
    return await commitFile(session, record, 'none');
  } catch (e) {
    // UPLOAD_NOT_FOUND: another finalize (the S3 event racing an explicit complete) or the sweeper
    // closed the session first; the object is theirs now, so it must not be deleted here.
    const closedElsewhere =
      e instanceof AppError && (e.code === 'CONCURRENT_UPDATE' || e.code === 'UPLOAD_NOT_FOUND');
    if (e instanceof AppError && !closedElsewhere) throw await reject(e);
    throw e;
  }
}
