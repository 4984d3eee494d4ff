import type { PresignedUpload, StorageBackend, StoredPart, UploadedPart } from '../backends/contract';
import { getStorage } from '../backends/registry';
import { getConfig } from '../config';
import { AppError, fromStorageError, StorageError } from '../errors';
import type { MultipartPlan, UploadSession } from '../metadata/items';

const MiB = 1024 * 1024;
/** S3's limits, the tightest of the backends: parts of 5 MiB to 5 GiB (the last may be smaller), at most 10,000. */
export const MIN_PART_BYTES = 5 * MiB;
export const MAX_PART_BYTES = 5 * 1024 * MiB;
export const MAX_PARTS = 10_000;
/** The largest object one presigned request may upload (S3 PutObject, OSS PutObject, ~Azure Put Blob). */
export const MAX_SINGLE_UPLOAD_BYTES = 5 * 1024 * MiB;
/** Part URLs signed per call: a page of work for a client, bounded for the API's time budget. */
export const MAX_PARTS_PER_SIGN = 100;

/** Equal parts of a whole number of MiB, as few as the limits allow but never under 5 MiB. */
export function planParts(size: number): { partSize: number; parts: number } {
  const partSize = Math.max(MIN_PART_BYTES, Math.ceil(size / MAX_PARTS / MiB) * MiB);
  if (partSize > MAX_PART_BYTES) {
    throw new AppError('FILE_TOO_LARGE', `A file can have at most ${MAX_PARTS * MAX_PART_BYTES} bytes`);
  }
  return { partSize, parts: Math.max(1, Math.ceil(size / partSize)) };
}

export function multipartOf(backend: StorageBackend) {
  if (!backend.multipart) {
    throw new AppError('INVALID_REQUEST', `The storage ${backend.name} has no multipart uploads`);
  }
  return backend.multipart;
}

/** The session of a multipart upload still waiting for its parts, or the reason why not. */
export function pendingPlan(session: UploadSession | undefined): {
  session: UploadSession;
  plan: MultipartPlan;
} {
  if (session?.kind !== 'direct') throw new AppError('UPLOAD_NOT_FOUND', 'No such upload');
  if (session.status === 'COMPLETED')
    throw new AppError('UPLOAD_COMPLETED', 'The upload is already complete');
  if (session.status === 'FAILED') {
    throw new AppError('UPLOAD_NOT_FOUND', 'The upload was refused; GET /v1/uploads/{id} says why');
  }
  if (!session.multipart) throw new AppError('INVALID_REQUEST', 'The upload is not sent in parts');
  return { session, plan: session.multipart };
}

const storageFailure = (e: unknown) => (e instanceof StorageError ? fromStorageError(e) : e);

/** Presigned PUT URLs for some parts of the plan. */
export async function signParts(
  session: UploadSession,
  plan: MultipartPlan,
  partNumbers: number[],
): Promise<{ parts: (PresignedUpload & { partNumber: number })[]; expiresAt: string }> {
  if (partNumbers.length === 0 || partNumbers.length > MAX_PARTS_PER_SIGN) {
    throw new AppError('INVALID_PARTS', `Sign from 1 to ${MAX_PARTS_PER_SIGN} parts per call`);
  }
  const seen = new Set<number>();
  for (const n of partNumbers) {
    if (!Number.isInteger(n) || n < 1 || n > plan.parts || seen.has(n)) {
      throw new AppError('INVALID_PARTS', `Part numbers are distinct whole numbers from 1 to ${plan.parts}`);
    }
    seen.add(n);
  }
  const backend = getStorage(session.storage);
  // A URL never outlives the upload it belongs to.
  const expiresIn = Math.max(
    1,
    Math.min(getConfig().presignTtlSeconds, Math.floor((session.expiresAt - Date.now()) / 1000)),
  );
  try {
    const parts = await Promise.all(
      partNumbers.map(async (partNumber) => ({
        partNumber,
        ...(await multipartOf(backend).presignPart(session.key, plan.uploadId, partNumber, { expiresIn })),
      })),
    );
    return { parts, expiresAt: new Date(Date.now() + expiresIn * 1000).toISOString() };
  } catch (e) {
    throw storageFailure(e);
  }
}

export async function storedParts(session: UploadSession, plan: MultipartPlan): Promise<StoredPart[]> {
  try {
    return await multipartOf(getStorage(session.storage)).listParts(session.key, plan.uploadId);
  } catch (e) {
    // The multipart upload is gone: assembled by a complete (the staging object is there) or aborted.
    if (e instanceof StorageError && e.kind === 'NotFound') return [];
    throw storageFailure(e);
  }
}

/**
 * Joins the client's parts into the staging object, after checking the list against what the
 * storage holds: all of 1..N in order (400 INVALID_PARTS), each stored (409 UPLOAD_INCOMPLETE,
 * naming the missing ones) and, where the client gives the ETag it was answered, still that part
 * (400: the part was sent again since).
 * Nothing here is final: the finalize that follows checks the assembled object like any other.
 * Returns false when an earlier complete assembled it already.
 */
export async function assembleParts(
  session: UploadSession,
  plan: MultipartPlan,
  given: UploadedPart[] | undefined,
): Promise<boolean> {
  const backend = getStorage(session.storage);
  if (!given) throw new AppError('INVALID_PARTS', 'Complete a multipart upload with its part list');
  if (given.length !== plan.parts || given.some((p, i) => p.partNumber !== i + 1)) {
    throw new AppError(
      'INVALID_PARTS',
      `The part list must name parts 1 to ${plan.parts} in ascending order`,
    );
  }
  try {
    if (await backend.head(session.key)) return false;
    const stored = new Map((await storedParts(session, plan)).map((p) => [p.partNumber, p]));
    const missing = given.filter((p) => !stored.has(p.partNumber)).map((p) => p.partNumber);
    if (missing.length) {
      // Maybe a concurrent complete assembled them a moment ago.
      if (await backend.head(session.key)) return false;
      throw new AppError('UPLOAD_INCOMPLETE', `Parts not uploaded yet: ${missing.slice(0, 20).join(', ')}`, {
        missing,
      });
    }
    // An ETag given that is not the stored part's (a part sent again since) is the backend's to
    // refuse (InvalidPart -> 400 INVALID_PARTS): it knows what its ETags mean (Azure has none).
    await multipartOf(backend).complete(session.key, plan.uploadId, given, {
      contentType: session.contentType,
    });
    return true;
  } catch (e) {
    if (e instanceof AppError) throw e;
    // A complete that lost the race to another one finds the multipart upload gone, the object there.
    if (e instanceof StorageError && e.kind === 'NotFound' && (await backend.head(session.key))) return false;
    throw storageFailure(e);
  }
}
