import type { StorageBackend } from '../backends/contract';
import { getStorage } from '../backends/registry';
import { getConfig } from '../config';
import { AppError } from '../errors';
import { getFileRecord } from '../metadata/files';
import { type FileRecord, isExpired } from '../metadata/items';
import { normalizePath } from '../path';
import { removeFile } from './remove';

/**
 * Looks a file up for reading. Every read checks expiry: an expired file answers 404, and its
 * object, record and quota are cleaned up right then.
 */
export async function findFile(
  tenant: string,
  storage: string | undefined,
  rawPath: string | undefined,
): Promise<{ record: FileRecord; backend: StorageBackend }> {
  const backend = getStorage(storage);
  const path = normalizePath(rawPath);
  const record = await getFileRecord(tenant, backend.name, path);
  if (!record) throw new AppError('NOT_FOUND', 'File not found');
  if (isExpired(record)) {
    if (getConfig().cleanupOnRead) await removeFile(record, 'expired');
    throw new AppError('NOT_FOUND', 'File not found');
  }
  return { record, backend };
}

export type Disposition = 'inline' | 'attachment';

/** Characters a path segment keeps as they are in a URL (most paths are only these). */
const URL_SAFE = /^[A-Za-z0-9/._~-]*$/;

export const encodePath = (path: string) =>
  URL_SAFE.test(path) ? path : path.split('/').map(encodeURIComponent).join('/');
