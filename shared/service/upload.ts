import { pipeline as pipe, type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { getStorage } from '../backends/registry';
import { getConfig } from '../config';
import { AppError } from '../errors';
import { failpoint } from '../faults';
import { logger } from '../logger';
import { getBlob, retireBlob } from '../metadata/blobs';
import { getFileRecord } from '../metadata/files';
import {
  type BlobItem,
  type FileRecord,
  isExpired,
  type OnConflict,
  type UploadSession,
  type Visibility,
} from '../metadata/items';
import { endSession, getSession, growReservation, heartbeat, openSession } from '../metadata/sessions';
import { normalizePath } from '../path';
import { commitRecord, recordFromSession } from './commit';
import { collectGarbage } from './gc';
import { blobObjectKey, fileExtension, newId, objectKey } from './keys';
import { type Grow, LimitExceeded, Meter } from './meter';
import type { TenantPrincipal } from './principal';
import { assertSize, assertTypeAllowed, normalizeContentType } from './validate';

export interface UploadInput {
  principal: TenantPrincipal;
  storage?: string;
  path: string;
  body: Readable;
  contentType?: string;
  /** Declared length (Content-Length), when the client sent one. */
  size?: number;
  /** An upper bound of the length when `size` is unknown (a form's whole request length). */
  sizeHint?: number;
  md5?: string;
  expires?: number;
  visibility: Visibility;
  onConflict: OnConflict;
}

/** A body of unknown length starts with this reservation and doubles it as bytes arrive... */
const FIRST_RESERVATION = 64 * 1024;
/** ...by at most this much at a time, so one long upload never holds much more than it needs. */
const MAX_GROWTH = 64 * 1024 * 1024;

/**
 * uploadByFile: validate -> open a session (reservation, and for md5 uploads a claim on a new blob
 * or a pin on the stored one) -> stream to the backend while hashing -> verify md5 -> commit.
 * Any failure ends the session: the reservation is released and whatever was written becomes
 * garbage that is deleted at once (or by the sweeper, if this process dies first).
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

  const uploadId = newId();
  const now = Date.now();
  const graceMs = config.pendingGraceSeconds * 1000;
  const declared = input.size !== undefined;
  const session: UploadSession = {
    uploadId,
    tenant,
    storage: backend.name,
    path,
    key: objectKey(tenant, uploadId, fileExtension(path)),
    kind: 'stream',
    status: 'PENDING',
    reservedBytes: declared
      ? (input.size as number)
      : Math.min(input.sizeHint ?? FIRST_RESERVATION, maxBytes),
    contentType,
    md5: input.md5,
    expires: input.expires,
    visibility: input.visibility,
    onConflict: input.onConflict,
    uploadUser: userId,
    createdAt: new Date(now).toISOString(),
    // An honest deadline: the grace from now, moved on by heartbeats while bytes keep arriving.
    expiresAt: now + graceMs,
  };
  await open(session, declared);

  const writes = session.blob?.mode === 'pinned' ? undefined : (session.blob?.key ?? session.key);
  const grow: Grow | undefined = declared ? undefined : (needed) => growFor(session, needed, maxBytes);
  const meter = new Meter(session.reservedBytes, input.size ?? input.sizeHint, grow);
  const stopBeating = startHeartbeat(session, graceMs, () => meter.bytes);
  let uncertain = false;
  try {
    await failpoint('upload.after-open');
    let streamError: unknown;
    const metered = pipe(input.body, meter, (e) => {
      streamError = e;
    });
    try {
      if (writes) await backend.put(writes, metered, { contentType, size: input.size });
      // Pinned: the content is stored already; hash the bytes to verify the md5, keep nothing.
      else await pipeline(metered, new Writable({ write: (_c, _e, done) => done() }));
    } catch (e) {
      const cause = streamError ?? e;
      if (cause instanceof LimitExceeded) {
        throw new AppError('FILE_TOO_LARGE', `The file is larger than the limit of ${maxBytes} bytes`);
      }
      throw cause;
    }
    const digests = await meter.digests();
    if (input.md5 && input.md5 !== digests.md5) {
      throw new AppError('MD5_MISMATCH', 'The md5 given does not match the bytes received', {
        actual: digests.md5,
      });
    }
    stopBeating();
    await failpoint('upload.before-commit');
    const record = recordFromSession(session, {
      key: writes ?? (session.blob?.key as string),
      size: meter.bytes,
      ...digests,
      blobMd5: session.blob?.md5,
    });
    let committed: Awaited<ReturnType<typeof commitRecord>>;
    try {
      committed = await commitRecord(session, record);
    } catch (e) {
      // Not an answer: whether the commit happened could not be told (commitRecord settles what it
      // can). The object may be the file now, so this upload must not delete it.
      if (!(e instanceof AppError && e.status < 500)) uncertain = true;
      throw e;
    }
    if ('closed' in committed) throw timedOut();
    return committed.record;
  } catch (e) {
    stopBeating();
    // A write that broke because the sweeper reaped the stalled upload (and its temp file) meanwhile.
    const reaped = !uncertain && !(e instanceof AppError) && (await wasReaped(session));
    await abandon(session, uncertain ? undefined : writes);
    throw reaped ? timedOut() : e;
  }
}

async function wasReaped(session: UploadSession): Promise<boolean> {
  return getSession(session.tenant, session.uploadId).then(
    (s) => s?.status !== 'PENDING',
    () => false,
  );
}

const timedOut = () =>
  new AppError('UPLOAD_TIMEOUT', 'The upload stalled for longer than the server waits; please retry');

/**
 * Opens the session with the best use of a blob the content allows: claim a new blob, pin the
 * READY one, or (another upload is writing that content right now) store on its own key. A plan
 * that a concurrent change invalidates is made again; after a few tries the upload stores on its
 * own key, which is always correct, so a plain upload never answers CONCURRENT_UPDATE.
 */
async function open(session: UploadSession, declared: boolean): Promise<void> {
  const md5 = session.md5;
  for (let attempt = 0; attempt < 5; attempt++) {
    let pinned: BlobItem | undefined;
    session.blob = undefined;
    if (md5 && attempt < 4) {
      const blob = await getBlob(session.tenant, session.storage, md5);
      if (!blob) {
        const key = blobObjectKey(session.tenant, md5, session.uploadId, fileExtension(session.path));
        session.blob = { md5, key, mode: 'claimed' };
      } else if (blob.state === 'READY' && blob.refCount > 0) {
        session.blob = { md5, key: blob.key, mode: 'pinned' };
        pinned = blob;
      } else if (blob.state === 'READY') {
        // Left at refCount 0 by a crash of an older version: nobody uses it, so retire it and claim anew.
        const retired = await retireBlob(blob, 'unreferenced');
        if (retired) await collectGarbage(retired.garbage);
        continue;
      }
      // WRITING: another upload is storing this content right now; this one stores on its own key.
    }
    const opened = await openSession(session, pinned);
    if (opened === 'ok') return;
    if (opened === 'quota') {
      if (declared || session.reservedBytes === 0) {
        throw new AppError('QUOTA_EXCEEDED', 'The upload does not fit in the remaining quota', {
          requestedBytes: session.reservedBytes,
        });
      }
      // The upper bound did not fit; start from nothing and reserve as the bytes arrive.
      session.reservedBytes = 0;
    }
  }
  throw new AppError('QUOTA_EXCEEDED', 'The upload does not fit in the remaining quota');
}

/** Raises the reservation of a body of unknown length to cover `needed` bytes (with room to spare). */
async function growFor(session: UploadSession, needed: number, maxBytes: number): Promise<number> {
  if (needed > maxBytes) throw new LimitExceeded(`more than ${maxBytes} bytes`);
  const missing = needed - session.reservedBytes;
  const step = Math.min(Math.max(missing, session.reservedBytes, FIRST_RESERVATION), MAX_GROWTH);
  for (const bytes of [Math.min(step, maxBytes - session.reservedBytes), missing]) {
    const grown = await growReservation(session, bytes);
    if (grown === 'ok') return session.reservedBytes;
    if (grown === 'closed') throw timedOut();
  }
  throw new AppError('QUOTA_EXCEEDED', 'The upload does not fit in the remaining quota');
}

/**
 * While the body streams, moves the session's deadline on, as long as bytes keep arriving: a live
 * upload is never reaped, and a stalled or dead one is reaped a grace period after it stopped.
 */
function startHeartbeat(session: UploadSession, graceMs: number, received: () => number): () => void {
  const every = Math.max(1000, Math.min(graceMs / 3, 60_000));
  let beating = false;
  let seen = received();
  const timer = setInterval(() => {
    if (beating || received() === seen) return;
    seen = received();
    beating = true;
    heartbeat(session, Date.now() + graceMs)
      .catch((e) => logger.warn('upload heartbeat failed', { uploadId: session.uploadId, error: e as Error }))
      .finally(() => {
        beating = false;
      });
  }, every);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Ends a failed upload's session. When the sweeper ended it first (the upload outlived its
 * deadline), the key this upload wrote since is still its own and nobody references it, so it
 * deletes it itself (`writes`; undefined when a commit may have happened).
 */
async function abandon(session: UploadSession, writes: string | undefined): Promise<void> {
  try {
    const { ended, garbage } = await endSession(session, { reason: 'upload failed' });
    if (ended) await collectGarbage(garbage);
    else if (writes) await getStorage(session.storage).delete(writes);
  } catch (e) {
    // The session stays PENDING: the sweeper ends it after its deadline, with its objects.
    logger.warn('a failed upload is left to the sweeper', { uploadId: session.uploadId, error: e as Error });
  }
}
