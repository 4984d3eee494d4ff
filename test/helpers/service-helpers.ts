import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { expect } from 'vitest';
import { getConfig } from '../../shared/config';
import type { AppError } from '../../shared/errors';
import { getUsage } from '../../shared/metadata/quota';
import {
  type FileRecord,
  fileKey,
  queryPartition,
  sessionKey,
  type UploadSession,
} from '../../shared/metadata/records';
import type { Principal } from '../../shared/service/principal';
import { type UploadInput, uploadFile } from '../../shared/service/upload';

export const md5 = (data: Buffer | string) => createHash('md5').update(data).digest('hex');

export function upload(
  who: Principal,
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

/** The invariant of the quota model: counters equal the sum of READY records and PENDING sessions. */
export async function expectQuotaConsistent(tenant: string): Promise<void> {
  let used = 0;
  let files = 0;
  for (const storage of Object.keys(getConfig().storages)) {
    for await (const r of queryPartition<FileRecord>(fileKey(tenant, storage, '').pk)) {
      used += r.size;
      files += 1;
    }
  }
  let reserved = 0;
  for await (const s of queryPartition<UploadSession>(sessionKey(tenant, '').pk)) {
    if (s.status === 'PENDING') reserved += s.reservedBytes;
  }
  const usage = await getUsage(tenant);
  expect({ used: usage.usedBytes, files: usage.fileCount, reserved: usage.reservedBytes }).toEqual({
    used,
    files,
    reserved,
  });
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
