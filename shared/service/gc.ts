import { getStorage } from '../backends/registry';
import { StorageError } from '../errors';
import { failpoint } from '../faults';
import { logger } from '../logger';
import { forgetGarbage, type Garbage } from '../metadata/garbage';

/**
 * Deletes objects that a transaction has just handed to garbage, then forgets their garbage
 * items. The order is the point: the item outlives the object, so a failure or a crash anywhere
 * here leaves an item the sweeper finds and finishes. Never throws: what is left is the sweeper's.
 */
export async function collectGarbage(garbage: Garbage[]): Promise<number> {
  if (garbage.length === 0) return 0;
  const byStorage = new Map<string, Garbage[]>();
  for (const g of garbage) byStorage.set(g.storage, [...(byStorage.get(g.storage) ?? []), g]);
  let collected = 0;
  for (const [storage, list] of byStorage) {
    try {
      await failpoint('gc.before-delete');
      await deleteObjects(storage, list);
      await failpoint('gc.before-forget');
      await forgetGarbage(list);
      collected += list.length;
    } catch (e) {
      logger.warn('garbage left for the sweeper', { storage, count: list.length, error: e as Error });
    }
  }
  return collected;
}

/**
 * Deletes garbage objects of one storage: multipart uploads that would assemble into a key are
 * aborted first (their parts are stored bytes; one already completed or aborted is fine), then
 * the keys go in one batch.
 */
export async function deleteObjects(storage: string, garbage: Garbage[]): Promise<void> {
  const backend = getStorage(storage);
  for (const g of garbage) {
    if (!g.multipartUploadId || !backend.multipart) continue;
    await backend.multipart.abort(g.key, g.multipartUploadId).catch((e: unknown) => {
      if (!(e instanceof StorageError && e.kind === 'NotFound')) throw e;
    });
  }
  await backend.deleteMany(garbage.map((g) => g.key));
}
