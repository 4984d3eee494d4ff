import { pipeline as pipe, type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { getStorage } from '../backends/registry';
import { getConfig } from '../config';
import { AppError } from '../errors';
import { getUsage } from '../metadata/quota';
import {
  type FileRecord,
  getBlob,
  getFileRecord,
  type OnConflict,
  type UploadSession,
  type Visibility,
} from '../metadata/records';
import { normalizePath } from '../path';
import { abandonClaim, type BlobMode, commitFile, isExpired, recordFromSession } from './commit';
import { blobObjectKey, fileExtension, newId, objectKey } from './keys';
import { LimitExceeded, Meter } from './meter';
import type { Principal } from './principal';
import { claimBlob, openSession, releaseSession } from './sessions';
import { assertSize, assertTypeAllowed, normalizeContentType } from './validate';

export interface UploadInput {
  principal: Principal;
  storage?: string;
  path: string;
  body: Readable;
  contentType?: string;
  /** Declared length (Content-Length), when the client sent one. */
  size?: number;
  /** About how long the body is when `size` is unknown (a form's whole length): only picks how to hash. */
  sizeHint?: number;
  md5?: string;
  expires?: number;
  visibility: Visibility;
  onConflict: OnConflict;
}

/** A streaming upload may run long on one machine; its session outlives any real upload. */
const STREAM_SESSION_MS = 6 * 3600 * 1000;

/**
 * uploadByFile: validate -> reserve quota -> stream to the backend while hashing -> verify md5 ->
 * commit record + quota. Any failure releases the reservation and leaves no object behind.
 */
export async function uploadFile(input: UploadInput): Promise<FileRecord> {
  const config = getConfig();
  const backend = getStorage(input.storage);
  const path = normalizePath(input.path);
  const contentType = normalizeContentType(input.contentType);
  assertTypeAllowed(contentType);
  const maxBytes = Math.min(config.maxApiUploadBytes, config.maxFileBytes);
  assertSize(input.size, maxBytes);
  const { tenant, userId } = input.principal;

  if (input.onConflict === 'fail') {
    // Early answer only; the commit's condition is what enforces it.
    const existing = await getFileRecord(tenant, backend.name, path);
    if (existing && !isExpired(existing))
      throw new AppError('ALREADY_EXISTS', 'A file already exists at this path');
  }

  // Without a declared length, reserve what the quota has left (up to the size cap) and settle on commit.
  let reservedBytes = input.size;
  let limitedByQuota = false;
  if (reservedBytes === undefined) {
    const usage = await getUsage(tenant);
    const free = Math.max(0, usage.limitBytes - usage.usedBytes - usage.reservedBytes);
    limitedByQuota = free < maxBytes;
    reservedBytes = Math.min(free, maxBytes);
  }

  const uploadId = newId();
  const ext = fileExtension(path);
  const now = Date.now();
  const session: UploadSession = {
    uploadId,
    tenant,
    storage: backend.name,
    path,
    key: objectKey(tenant, uploadId, ext),
    kind: 'stream',
    status: 'PENDING',
    reservedBytes,
    contentType,
    md5: input.md5,
    expires: input.expires,
    visibility: input.visibility,
    onConflict: input.onConflict,
    uploadUser: userId,
    createdAt: new Date(now).toISOString(),
    expiresAt: now + STREAM_SESSION_MS,
  };
  await openSession(session);

  let key = session.key;
  let blobMode: BlobMode = 'none';
  const blob = input.md5
    ? { tenant, storage: backend.name, md5: input.md5, key: blobObjectKey(tenant, input.md5, ext) }
    : undefined;
  let stored = false;
  try {
    if (blob) {
      const existing = await getBlob(tenant, backend.name, blob.md5);
      if (existing?.state === 'READY') {
        blobMode = 'existing';
        key = existing.key;
      } else if (!existing && (await claimBlob(blob, uploadId, now + STREAM_SESSION_MS))) {
        blobMode = 'claimed';
        key = blob.key;
      }
      // Otherwise another upload is writing this content right now: store this one on its own.
    }

    const meter = new Meter(reservedBytes, input.size ?? input.sizeHint);
    let streamError: unknown;
    const metered = pipe(input.body, meter, (e) => {
      streamError = e;
    });
    try {
      if (blobMode === 'existing') {
        // The content is already stored: hash the bytes to verify the md5, keep nothing.
        await pipeline(metered, new Writable({ write: (_c, _e, done) => done() }));
      } else {
        stored = true;
        await backend.put(key, metered, { contentType, size: input.size });
      }
    } catch (e) {
      const cause = streamError ?? e;
      if (cause instanceof LimitExceeded) {
        throw limitedByQuota
          ? new AppError('QUOTA_EXCEEDED', 'The upload does not fit in the remaining quota')
          : new AppError('FILE_TOO_LARGE', `The file is larger than the limit of ${reservedBytes} bytes`);
      }
      throw cause;
    }
    const digests = await meter.digests();
    if (input.md5 && input.md5 !== digests.md5) {
      throw new AppError('MD5_MISMATCH', 'The md5 given does not match the bytes received', {
        actual: digests.md5,
      });
    }

    const record = recordFromSession(session, {
      key,
      size: meter.bytes,
      ...digests,
      blobMd5: blobMode === 'none' ? undefined : blob?.md5,
    });
    return await commitFile(session, record, blobMode);
  } catch (e) {
    await cleanupFailedUpload(session, key, blobMode, blob, stored);
    throw e;
  }
}

async function cleanupFailedUpload(
  session: UploadSession,
  key: string,
  blobMode: BlobMode,
  blob: { tenant: string; storage: string; md5: string; key: string } | undefined,
  stored: boolean,
): Promise<void> {
  const backend = getStorage(session.storage);
  if (blobMode === 'claimed' && blob) {
    await abandonClaim(blob, session.uploadId, () => backend.delete(key));
  } else if (stored && blobMode === 'none') {
    await backend.delete(key);
  }
  await releaseSession(session);
}
