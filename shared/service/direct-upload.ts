import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PresignedUpload, StorageBackend, UploadedPart } from '../backends/contract';
import { getStorage } from '../backends/registry';
import { getConfig } from '../config';
import { AppError, type ErrorCode, fromStorageError, StorageError } from '../errors';
import { failpoint } from '../faults';
import { logger } from '../logger';
import { getFileRecord } from '../metadata/files';
import { markGarbage } from '../metadata/garbage';
import {
  type FileRecord,
  isExpired,
  type OnConflict,
  type UploadSession,
  type Visibility,
} from '../metadata/items';
import {
  endSession,
  getSession,
  markVerifying,
  openSession,
  releaseLease,
  takeLease,
} from '../metadata/sessions';
import { normalizePath } from '../path';
import { commitRecord, recordFromSession } from './commit';
import { collectGarbage } from './gc';
import { ASSEMBLED_PREFIX, assembledKey, fileExtension, newId, objectKey, stagingKey } from './keys';
import { Meter } from './meter';
import {
  assembleParts,
  MAX_SINGLE_UPLOAD_BYTES,
  multipartOf,
  pendingPlan,
  planParts,
  signParts,
  storedParts,
} from './multipart';
import type { TenantPrincipal } from './principal';
import { assertBytesAllowed, HeadTap, readHead } from './sniff';
import { assertSize, assertTypeAllowed, normalizeContentType } from './validate';

export interface SignUploadInput {
  principal: TenantPrincipal;
  storage?: string;
  path: string;
  contentType?: string;
  size: number;
  md5?: string;
  expires?: number;
  visibility: Visibility;
  onConflict: OnConflict;
  /** true: a multipart plan at any size; false: one request; absent: by MULTIPART_THRESHOLD_BYTES */
  multipart?: boolean;
}

/** One presigned request for the whole file, or a plan of parts signed later in batches. */
export type SignedUpload =
  | ({ uploadId: string; path: string; mode: 'single' } & PresignedUpload)
  | { uploadId: string; path: string; mode: 'multipart'; partSize: number; parts: number; expiresAt: string };

/**
 * getSignUrl: a PENDING session holding a reservation of the declared size, and the backend's
 * instructions for sending the bytes straight to storage, to a staging key that no file record
 * ever points at. The file becomes READY on completion.
 */
export async function signUpload(input: SignUploadInput): Promise<SignedUpload> {
  const config = getConfig();
  const backend = getStorage(input.storage);
  const path = normalizePath(input.path);
  const contentType = normalizeContentType(input.contentType);
  assertTypeAllowed(contentType);
  assertSize(input.size, config.maxFileBytes);
  const multipart = input.multipart ?? input.size > config.multipartThresholdBytes;
  if (!multipart && input.size > MAX_SINGLE_UPLOAD_BYTES) {
    throw new AppError(
      'FILE_TOO_LARGE',
      `One request uploads at most ${MAX_SINGLE_UPLOAD_BYTES} bytes; send larger files in parts (multipart)`,
    );
  }
  const plan = multipart ? planParts(input.size) : undefined;
  if (input.md5 && input.size > config.verifyReadMaxBytes) {
    throw new AppError(
      'MD5_NOT_VERIFIABLE',
      `An md5 is checked by reading the file, which is done up to ${config.verifyReadMaxBytes} bytes; upload larger files without one`,
    );
  }
  if (input.onConflict === 'fail') {
    const existing = await getFileRecord(input.principal.tenant, backend.name, path);
    if (existing && !isExpired(existing))
      throw new AppError('ALREADY_EXISTS', 'A file already exists at this path');
  }
  const uploadId = newId();
  const now = Date.now();
  // Parts are joined straight into the file's key where no part URL can write once the upload
  // is complete; everything else goes to staging and is promoted by a copy (see finalizeSession).
  const key =
    plan && backend.capabilities.sealedParts
      ? assembledKey(input.principal.tenant, uploadId, fileExtension(path))
      : stagingKey(input.principal.tenant, uploadId, fileExtension(path));
  // The backend's multipart upload exists before the session that owns it, so the session can
  // name it (and whoever ends the session aborts it); if the session cannot open, it is aborted here.
  let backendUploadId: string | undefined;
  if (plan) {
    try {
      ({ uploadId: backendUploadId } = await multipartOf(backend).create(key, { contentType }));
    } catch (e) {
      throw e instanceof StorageError ? fromStorageError(e) : e;
    }
  }
  const session: UploadSession = {
    uploadId,
    tenant: input.principal.tenant,
    storage: backend.name,
    path,
    key,
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
    expiresAt: plan
      ? now + config.multipartTtlSeconds * 1000
      : now + (config.presignTtlSeconds + config.pendingGraceSeconds) * 1000,
    ...(plan && backendUploadId ? { multipart: { uploadId: backendUploadId, ...plan } } : {}),
  };
  const opened = await openSession(session).catch(async (e: unknown) => {
    if (backendUploadId) await abortQuietly(backend, key, backendUploadId);
    throw e;
  });
  if (opened !== 'ok') {
    if (backendUploadId) await abortQuietly(backend, key, backendUploadId);
    throw new AppError('QUOTA_EXCEEDED', 'The upload does not fit in the remaining quota', {
      requestedBytes: session.reservedBytes,
    });
  }
  if (session.multipart) {
    const { partSize, parts } = session.multipart;
    return {
      uploadId,
      path,
      mode: 'multipart',
      partSize,
      parts,
      expiresAt: new Date(session.expiresAt).toISOString(),
    };
  }
  try {
    const instructions = await backend.presignUpload(session.key, {
      contentType,
      maxBytes: input.size,
      expiresIn: config.presignTtlSeconds,
    });
    return { uploadId, path, mode: 'single', ...instructions };
  } catch (e) {
    const { garbage } = await endSession(session, { reason: 'presign failed' });
    await collectGarbage(garbage);
    throw e instanceof StorageError ? fromStorageError(e) : e;
  }
}

async function abortQuietly(backend: StorageBackend, key: string, uploadId: string) {
  await backend.multipart?.abort(key, uploadId).catch((e: unknown) => {
    // S3's lifecycle rule (and the audit elsewhere) finds what is left.
    logger.warn('a multipart upload without a session was left behind', { key, error: e as Error });
  });
}

const sessionOf = async (principal: TenantPrincipal, uploadId: string) =>
  getSession(principal.tenant, uploadId);

/** Presigned URLs for a batch of a multipart upload's parts. */
export async function signUploadParts(principal: TenantPrincipal, uploadId: string, partNumbers: number[]) {
  const { session, plan } = pendingPlan(await sessionOf(principal, uploadId));
  return signParts(session, plan, partNumbers);
}

/** What a resuming client needs: the plan and the parts the storage already holds. */
export async function listUploadParts(principal: TenantPrincipal, uploadId: string) {
  const { session, plan } = pendingPlan(await sessionOf(principal, uploadId));
  const uploaded = await storedParts(session, plan);
  return { uploadId, partSize: plan.partSize, parts: plan.parts, uploaded };
}

/**
 * Aborts a direct upload that is not complete: the reservation is given back, the parts and
 * any staged bytes become garbage. Idempotent: an unknown (or already aborted) upload is fine.
 */
export async function abortUpload(principal: TenantPrincipal, uploadId: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const session = await sessionOf(principal, uploadId);
    if (session?.kind !== 'direct' || session.status === 'FAILED') return;
    if (session.status === 'COMPLETED') {
      throw new AppError('UPLOAD_COMPLETED', 'The upload is already complete; delete the file instead');
    }
    const { ended, garbage } = await endSession(session, { reason: 'aborted' });
    if (ended) {
      await collectGarbage(garbage);
      return;
    }
  }
  throw new AppError('SERVICE_BUSY', 'The upload keeps changing; try again');
}

/** A direct upload as its client sees it: waiting for bytes (PENDING), or READY with its file. */
export async function uploadStatus(principal: TenantPrincipal, uploadId: string) {
  const session = await sessionOf(principal, uploadId);
  if (session?.kind !== 'direct') throw new AppError('UPLOAD_NOT_FOUND', 'No such upload');
  const base = {
    uploadId,
    path: session.path,
    storage: session.storage,
    mode: session.multipart ? ('multipart' as const) : ('single' as const),
    size: session.reservedBytes,
    ...(session.multipart ? { partSize: session.multipart.partSize, parts: session.multipart.parts } : {}),
  };
  if (session.status === 'COMPLETED') {
    return { ...base, status: 'READY' as const, file: await completedFile(session) };
  }
  if (session.status === 'FAILED') return { ...base, status: 'FAILED' as const, error: session.error };
  return {
    ...base,
    status: session.verifying ? ('VERIFYING' as const) : ('PENDING' as const),
    expiresAt: new Date(session.expiresAt).toISOString(),
  };
}

/** How long a complete call waits for a finalize of the same upload that is running elsewhere. */
const COMPLETE_WAIT_MS = 10_000;

/**
 * Finalizes a direct upload for its client: checks the stored object (present, size <= declared,
 * md5 if given) and commits it, or refuses it (object deleted, reservation released). Idempotent:
 * a repeated call answers with the file it completed.
 */
export async function completeUpload(
  principal: TenantPrincipal,
  uploadId: string,
  parts?: UploadedPart[],
): Promise<{ record: FileRecord } | { verifying: true }> {
  const session = await getSession(principal.tenant, uploadId);
  // Only direct uploads are completed by their client; an API upload commits itself.
  if (session?.kind !== 'direct') throw new AppError('UPLOAD_NOT_FOUND', 'No such upload');
  if (session.status === 'PENDING') {
    // Parts are joined into the staging object first; from there on it is an ordinary finalize
    // (the storage event of that object may run the same finalize at the same time).
    if (session.multipart) await assembleParts(session, session.multipart, parts);
    if (session.verifying || (await handOff(session))) return { verifying: true };
  }
  return { record: await finalizeSession(session, { waitMs: COMPLETE_WAIT_MS }) };
}

/**
 * Copying and hashing a large object does not fit in an API call (29 s): complete hands it to an
 * asynchronous finalize instead. In AWS the staging object's storage event runs it (the processor
 * has 5 minutes); in a long-lived process (the local server) a background task does; and the
 * sweeper finishes whatever is still PENDING when it comes due. Returns whether it handed off.
 */
async function handOff(session: UploadSession): Promise<boolean> {
  const config = getConfig();
  // Within the limit by its declared size, an upload needs no look: a larger object is refused by
  // the finalize. One that will not be read is finalized at once whatever its size.
  const slow = (size: number) => size > config.verifyInlineBytes && readsWhole(session, size);
  if (!slow(session.reservedBytes)) return false;
  const staged = await getStorage(session.storage).head(session.key);
  if (!staged || !slow(staged.size)) return false;
  const until = Date.now() + leaseMs(session, staged.size);
  if (!(await markVerifying(session, until))) return false; // ended or completed meanwhile
  if (config.backgroundFinalize) {
    void finalizeSession(session, { waitMs: 0 }).catch((e: unknown) => {
      // Refusals are recorded on the upload (FAILED); anything else is the sweeper's to retry.
      if (!(e instanceof AppError && e.status < 500))
        logger.warn('background finalize failed', { error: e as Error });
    });
  }
  return true;
}

/**
 * Multipart uploads joined in the file's own key (ASSEMBLED_PREFIX): no copy, and nothing of them
 * is deleted on success. All other direct uploads are promoted from staging by a server-side copy.
 */
const joinedInPlace = (session: UploadSession) => session.key.startsWith(ASSEMBLED_PREFIX);

/**
 * Whether a finalize reads the whole object (for md5 and sha256): always for a one-request upload
 * (at most 5 GiB), and for a multipart upload when its client declared an md5 or it is small
 * enough to read within complete. A large multipart upload otherwise relies on the storage's own
 * checks (each part's ETag, the size by HEAD, the first bytes for the type) and has no digests.
 */
const readsWhole = (session: UploadSession, size: number) =>
  !session.multipart || session.md5 !== undefined || size <= getConfig().verifyInlineBytes;

/**
 * A finalize lease lasts FINALIZE_LEASE_SECONDS plus the time to read the object at a slow 20 MB/s
 * where it is read, and to copy it server-side at 200 MB/s where it is copied.
 */
const leaseMs = (session: UploadSession, bytes: number) =>
  getConfig().finalizeLeaseSeconds * 1000 +
  (readsWhole(session, bytes) ? Math.ceil(bytes / 20_000) : 0) +
  (joinedInPlace(session) ? 0 : Math.ceil(bytes / 200_000));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Finalize (complete, or the storage event): one finalize at a time holds the session's lease.
 * It promotes the staging object to a fresh key first (a server-side copy: from then on no client
 * URL can change those bytes), verifies the promoted copy (size and hashes), and commits it. So
 * what is verified is exactly what the file points at, even if a client writes the staging key
 * again meanwhile. A finalize that finds another one running waits up to `waitMs` for its result,
 * then answers UPLOAD_IN_PROGRESS (a storage event is simply delivered again).
 */
export async function finalizeSession(
  found: UploadSession,
  options: { waitMs: number },
): Promise<FileRecord> {
  const deadline = Date.now() + options.waitMs;
  let session = found;
  for (;;) {
    if (session.status === 'COMPLETED') return completedFile(session);
    if (session.status === 'FAILED') throw failedAnswer(session);
    const attempt = newId();
    // Every attempt copies to a key of its own, except where the parts were joined in place.
    const target = joinedInPlace(session)
      ? session.key
      : objectKey(session.tenant, attempt, fileExtension(session.path));
    const now = Date.now();
    const leaseUntil = now + leaseMs(session, session.reservedBytes);
    const before = await takeLease(session, attempt, target, leaseUntil, now);
    if (before) {
      const held = {
        ...before,
        finalizer: attempt,
        finalizeKey: target,
        leaseUntil,
        version: (before.version ?? 0) + 1,
      };
      return await promoteAndCommit(held, attempt, target, before.finalizeKey);
    }
    const current = await getSession(session.tenant, session.uploadId);
    if (!current) throw new AppError('UPLOAD_NOT_FOUND', 'No such upload');
    if (current.status === 'PENDING' && Date.now() >= deadline) {
      throw new AppError('UPLOAD_IN_PROGRESS', 'The upload is being completed by another request; retry');
    }
    if (current.status === 'PENDING') await sleep(200);
    session = current;
  }
}

/** The answer a refused upload would have had, for the client that asks again. */
const failedAnswer = (session: UploadSession) =>
  new AppError(
    (session.error?.code ?? 'UPLOAD_NOT_FOUND') as ErrorCode,
    session.error?.message ?? 'The upload was refused',
  );

async function completedFile(session: UploadSession): Promise<FileRecord> {
  const record = await getFileRecord(session.tenant, session.storage, session.path);
  if (record?.id === session.uploadId) return record;
  throw new AppError(
    'UPLOAD_NOT_FOUND',
    'The upload was completed, but its file has since been replaced or deleted',
  );
}

async function promoteAndCommit(
  session: UploadSession,
  attempt: string,
  target: string,
  deadAttemptKey: string | undefined,
): Promise<FileRecord> {
  const backend = getStorage(session.storage);
  // In place, the target is the session's own key: only ending the session makes it garbage.
  const inPlace = target === session.key;
  const own = (key: string) => ({ tenant: session.tenant, storage: session.storage, key });
  const discard = async (key: string, reason: string) => {
    await markGarbage([own(key)], reason);
    await collectGarbage([own(key)]);
  };
  // Refusing ends the session (reservation back, staging object and copy to garbage), but only
  // while this attempt still holds the lease: otherwise the holder decides.
  const refuse = async (error: AppError): Promise<FileRecord> => {
    const { ended, garbage } = await endSession(session, {
      reason: 'upload refused',
      expectFinalizer: attempt,
      failure: { code: error.code, message: error.message },
    });
    if (ended) await collectGarbage(garbage);
    else if (!inPlace) await discard(target, 'refused copy');
    const now = ended ? undefined : await getSession(session.tenant, session.uploadId);
    if (now?.status === 'COMPLETED') return completedFile(now);
    throw error;
  };
  try {
    // A finalize that died holding an earlier lease may have promoted a copy: it is nobody's now
    // (had that attempt committed, the session would not be PENDING and this one had no lease).
    if (deadAttemptKey && deadAttemptKey !== target) await discard(deadAttemptKey, 'dead finalize attempt');
    await failpoint('finalize.after-lease');
    const staged = await backend.head(session.key);
    if (!staged) throw incomplete();
    if (staged.size > session.reservedBytes) return await refuse(tooLarge(session));
    let promoted = staged;
    if (!inPlace) {
      promoted = await backend.copy(session.key, target).catch((e: unknown) => {
        if (e instanceof StorageError && e.kind === 'NotFound') throw incomplete();
        throw e;
      });
      await failpoint('finalize.after-copy');
      // The staging object may have been replaced between the head and the copy: check the copy.
      if (promoted.size > session.reservedBytes) return await refuse(tooLarge(session));
    }
    const { digests, head } = readsWhole(session, promoted.size)
      ? await hashObject(backend, target, promoted.size)
      : { digests: undefined, head: await readHead(backend, target, promoted.size) };
    if (session.md5 && session.md5 !== digests?.md5) {
      return await refuse(new AppError('MD5_MISMATCH', 'The md5 given does not match the uploaded bytes'));
    }
    const typeRefused = await assertBytesAllowed(head).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (typeRefused instanceof AppError) return await refuse(typeRefused);
    if (typeRefused) throw typeRefused;
    const record = recordFromSession(session, { key: target, size: promoted.size, ...digests });
    await failpoint('finalize.before-commit');
    let committed: Awaited<ReturnType<typeof commitRecord>>;
    try {
      committed = await commitRecord(session, record, attempt);
    } catch (e) {
      // The path is taken (onConflict=fail) or no new name fits (rename): the upload is refused.
      if (e instanceof AppError && e.status < 500) return await refuse(e);
      throw e;
    }
    if ('closed' in committed) {
      // Another finalize took over (this one was too slow) or the sweeper reaped the upload: this
      // attempt's copy is referenced by nobody (joined in place, the object is the session's).
      if (!inPlace) await discard(target, 'superseded copy');
      const now = await getSession(session.tenant, session.uploadId);
      if (now?.status === 'COMPLETED') return completedFile(now);
      throw new AppError('UPLOAD_NOT_FOUND', 'The upload expired before it was completed');
    }
    // Committed: from here on nothing may fail the call (an error would make this attempt clean
    // up after a success). What clients may still write to the staging key is garbage now; a
    // lifecycle rule (or the sweeper) removes it if this does not.
    if (inPlace) return committed.record;
    await failpoint('finalize.after-commit')
      .then(() => backend.delete(session.key))
      .catch((e: unknown) => {
        logger.warn('staging object left for the sweeper', { key: session.key, error: e as Error });
      });
    return committed.record;
  } catch (e) {
    // Answers (refused, incomplete, conflict) have done their cleanup already.
    if (e instanceof AppError && e.status < 500) {
      if (e.code === 'UPLOAD_INCOMPLETE') await releaseLease(session, attempt);
      throw e;
    }
    // An infrastructure failure: give the lease back (so a retry can start at once), handing this
    // attempt's copy, if any, to garbage in the same write. Only while the session is PENDING with
    // this lease: if the outcome of a commit is unknown, the copy may be the file now.
    await releaseLease(session, attempt, inPlace ? undefined : target)
      .then((released) => (released && !inPlace ? collectGarbage([own(target)]) : 0))
      .catch((cleanup: unknown) =>
        logger.warn('finalize cleanup left to the sweeper', { error: cleanup as Error }),
      );
    throw e instanceof StorageError ? fromStorageError(e) : e;
  }
}

const incomplete = () => new AppError('UPLOAD_INCOMPLETE', 'No bytes have been uploaded for this upload yet');

const tooLarge = (session: UploadSession) =>
  new AppError(
    'FILE_TOO_LARGE',
    `The uploaded object is larger than the declared ${session.reservedBytes} bytes`,
  );

/** md5 and sha256 of a stored object, streamed (on worker threads when it is large), and its first bytes. */
async function hashObject(backend: StorageBackend, key: string, size: number) {
  const meter = new Meter(size, size);
  const tap = new HeadTap();
  const { body } = await backend.get(key);
  await pipeline(body, tap, meter, new Writable({ write: (_c, _e, done) => done() }));
  return { digests: await meter.digests(), head: tap.head() };
}
