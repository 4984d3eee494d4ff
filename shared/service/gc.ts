import { getStorage } from '../backends/registry';
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
      await getStorage(storage).deleteMany(list.map((g) => g.key));
      await failpoint('gc.before-forget');
      await forgetGarbage(list);
      collected += list.length;
    } catch (e) {
      logger.warn('garbage left for the sweeper', { storage, count: list.length, error: e as Error });
    }
  }
  return collected;
}
