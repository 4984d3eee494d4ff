import { getStorage } from '../backends/registry';
import { emitFileEvent } from '../events';
import { failpoint } from '../faults';
import { logger } from '../logger';
import { getFileRecord, removeFileRecord } from '../metadata/files';
import type { FileRecord } from '../metadata/items';
import { normalizePath } from '../path';
import { collectGarbage } from './gc';

/**
 * Removes a file: the record, its quota and its bytes go in one transaction (the bytes to
 * garbage), then the object is deleted. Conditioned on the record still being this one, so two
 * removers (a delete and an expiry, two sweepers) release it exactly once. Returns whether this
 * call removed it.
 */
export async function removeFile(record: FileRecord, reason: 'deleted' | 'expired'): Promise<boolean> {
  const { removed, garbage } = await removeFileRecord(record, reason);
  if (!removed) return false;
  try {
    await failpoint('remove.after-commit');
    await collectGarbage(garbage);
  } catch (e) {
    // The file is gone; what is left is garbage items, which the sweeper finishes.
    logger.warn('objects of a removed file are left to the sweeper', { id: record.id, error: e as Error });
  }
  await emitFileEvent(reason === 'deleted' ? 'FileDeleted' : 'FileExpired', record);
  return true;
}

/** delete: idempotent, a missing file is not an error (the caller's intent, "gone", holds). */
export async function deleteFile(
  tenant: string,
  storage: string | undefined,
  rawPath: string | undefined,
): Promise<void> {
  const backend = getStorage(storage);
  const path = normalizePath(rawPath);
  const record = await getFileRecord(tenant, backend.name, path);
  if (record) await removeFile(record, 'deleted');
}
