import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { expect } from 'vitest';
import type { AppError } from '../../shared/errors';
import type { FileRecord } from '../../shared/metadata/items';
import { completeUpload, type SignUploadInput, signUpload } from '../../shared/service/direct-upload';
import type { TenantPrincipal } from '../../shared/service/principal';
import { type UploadInput, uploadFile } from '../../shared/service/upload';
import { quotaMismatch } from './invariants';

export const md5 = (data: Buffer | string) => createHash('md5').update(data).digest('hex');

export function upload(
  who: TenantPrincipal,
  path: string,
  data: Buffer | string,
  extra: Partial<Omit<UploadInput, 'principal' | 'path' | 'body'>> = {},
): Promise<FileRecord> {
  const bytes = Buffer.from(data);
  return uploadFile({
    principal: who,
    path,
    body: Readable.from([bytes]),
    size: bytes.length,
    contentType: 'text/plain',
    visibility: 'private',
    onConflict: 'overwrite',
    ...extra,
  });
}

/** Files stored on local disk under a root, excluding the temp folder. */
export function storedFiles(root: string): string[] {
  try {
    return readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile())
      .map((d) => join(d.parentPath, d.name).slice(root.length + 1))
      .filter((p) => !p.startsWith('.tmp'));
  } catch {
    return [];
  }
}

/**
 * The invariant of the quota model: counters equal the sums of the READY records and the PENDING
 * sessions, recounted from the raw items by the test oracle (test/helpers/invariants.ts).
 */
export async function expectQuotaConsistent(tenant: string): Promise<void> {
  expect(await quotaMismatch(tenant)).toEqual([]);
}

/** "status CODE" of the AppError a call fails with, or 'no error'. */
export async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return `${(e as AppError).status} ${(e as AppError).code}`;
  }
  return 'no error';
}

/** signUpload for a file sent in one request: the tests that read its URL need that mode. */
export async function signSingleUpload(input: SignUploadInput) {
  const signed = await signUpload(input);
  if (signed.mode !== 'single') throw new Error(`expected a single upload, got ${signed.mode}`);
  return signed;
}

/** completeUpload where the test expects the file at once (objects under VERIFY_INLINE_BYTES). */
export async function completeNow(...args: Parameters<typeof completeUpload>) {
  const outcome = await completeUpload(...args);
  if (!('record' in outcome)) throw new Error('expected the file, got an asynchronous finalize');
  return outcome.record;
}
