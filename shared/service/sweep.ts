import { LocalDiskBackend } from '../backends/local-disk';
import { getStorage } from '../backends/registry';
import { getConfig } from '../config';
import { AppError } from '../errors';
import { emitFileEvent } from '../events';
import { failpoint } from '../faults';
import { logger } from '../logger';
import type { Garbage } from '../metadata/blobs';
import { removeFileRecord } from '../metadata/files';
import { forgetGarbage } from '../metadata/garbage';
import { type FileRecord, type GarbageItem, toFileRecord, type UploadSession } from '../metadata/items';
import { SWEEP_SHARDS } from '../metadata/schema';
import { endSession, forgetCompleted, getSession } from '../metadata/sessions';
import { loadSweeperState, saveSweeperState } from '../metadata/state';
import { getDueItem, type ItemKey, postpone, queryDue } from '../metadata/sweep-index';
import { isConditionFailed } from '../metadata/transact';
import { finalizeSession } from './direct-upload';
import { deleteObjects } from './gc';
import { parseStagingKey, STAGING_PREFIX } from './keys';

export interface SweepResult {
  files: number;
  uploads: number;
  /** garbage objects deleted */
  garbage: number;
  /** leftover staging objects and temp files deleted */
  leftovers: number;
  /** items that failed and were put off until later */
  failed: number;
  /** false when the time budget ran out first; the next run continues */
  complete: boolean;
}

const PAGE = 100;
const PARALLEL = 8;
/** A staging object is left over once no session can still be waiting for it: URL life + grace + an hour. */
const STAGING_MARGIN_MS = 3600 * 1000;

/** After n failures an item is looked at again in 30 s, 1, 2, 4 ... minutes, at most every hour. */
const backoff = (failures: number) => Math.min(3600_000, 30_000 * 2 ** failures);

/**
 * Finds due items through the sparse sweep index (a Query per shard, never a Scan) and finishes
 * them: expired files (record, quota, bytes), abandoned PENDING uploads (reservation, claim or pin,
 * and every object they wrote), garbage objects, and completed-upload markers whose memory ran
 * out. Then it deletes leftover staging objects and temp files. Every change is conditional, so
 * two sweeps at once, or a sweep racing a read that expires the same file, act exactly once.
 *
 * Items that always fail (poison) cannot starve the rest: shards are read a page at a time in
 * turn, a run continues where the last one stopped (each shard's position is kept), and an item
 * that fails is put off with a growing back-off. Stops before `deadline`, between small batches.
 */
export async function sweepExpired(options: { now?: number; deadline: number }): Promise<SweepResult> {
  const now = options.now ?? Date.now();
  const result: SweepResult = { files: 0, uploads: 0, garbage: 0, leftovers: 0, failed: 0, complete: true };
  const outOfTime = () => Date.now() >= options.deadline;
  if (outOfTime()) return { ...result, complete: false };
  const state = await loadSweeperState();
  const first = state.nextShard % SWEEP_SHARDS;
  const cursors = { ...state.cursors };
  // A position from a run with a later clock (a test's) is past this run's end: start over.
  for (const [shard, at] of Object.entries(cursors)) if (Number(at.sweepAt) > now) delete cursors[shard];
  const order = Array.from({ length: SWEEP_SHARDS }, (_, i) => (first + i) % SWEEP_SHARDS);
  const open = new Set(order);
  try {
    while (open.size > 0) {
      for (const shard of order) {
        if (!open.has(shard)) continue;
        if (outOfTime()) return { ...result, complete: false };
        const page = await queryDue(shard, now, PAGE, cursors[shard]);
        const garbage: Garbage[] = [];
        const garbageItems: FoundGarbage[] = [];
        let stopped = false;
        for (let i = 0; i < page.entries.length; i += PARALLEL) {
          if (outOfTime()) {
            // Go on after the last item done (the position is the index entry itself).
            const last = page.entries[i - 1];
            if (last) cursors[shard] = last.position;
            stopped = true;
            break;
          }
          const batch = page.entries.slice(i, i + PARALLEL);
          await Promise.all(batch.map((e) => sweepOne(e.key, now, result, garbage, garbageItems)));
        }
        await deleteGarbage(garbage, garbageItems, now, result);
        if (stopped) return { ...result, complete: false };
        if (page.next) cursors[shard] = page.next;
        else {
          delete cursors[shard];
          open.delete(shard);
        }
      }
    }
  } finally {
    await saveSweeperState({ nextShard: (first + 1) % SWEEP_SHARDS, cursors }).catch((e: unknown) =>
      logger.warn('sweeper position not saved; the next run starts over', { error: e as Error }),
    );
  }
  if (!(await removeLeftovers(now, options.deadline, result))) return { ...result, complete: false };
  return result;
}

type FoundGarbage = { key: ItemKey; sweepAt: number; failures: number; item: GarbageItem };

async function sweepOne(
  key: ItemKey,
  now: number,
  result: SweepResult,
  garbage: Garbage[],
  garbageItems: FoundGarbage[],
): Promise<void> {
  const due = await getDueItem(key).catch((e: unknown) => {
    // Nothing known to put off: the item stays where it is and the next cycle reads it again.
    logger.warn('sweep could not read a due item', { key, error: e as Error });
    return undefined;
  });
  if (!due || due.sweepAt > now) return; // changed since the index saw it
  try {
    await failpoint('sweep.item');
    if (key.pk.startsWith('F#')) {
      const record = toFileRecord(due.item) as FileRecord;
      if (typeof record.expiresAt !== 'number' || record.expiresAt > now) return;
      const removed = await removeFileRecord(record, 'expired');
      if (removed.removed) {
        result.files++;
        garbage.push(...removed.garbage);
        await emitFileEvent('FileExpired', record);
      }
    } else if (key.pk.startsWith('U#')) {
      const session = due.item as unknown as UploadSession;
      if (session.status !== 'PENDING') {
        // A COMPLETED or FAILED memory ran out. Whatever a client may still have written to the
        // staging key goes too.
        await forgetCompleted(session);
        garbage.push({ tenant: session.tenant, storage: session.storage, key: session.key });
      } else if (session.verifying && session.expiresAt <= now) {
        // Handed to an asynchronous finalize that has not finished: the sweeper finishes it (a
        // refusal ends the upload FAILED; a live finalize elsewhere answers UPLOAD_IN_PROGRESS).
        const lost = await finalizeSession(session, { waitMs: 0 }).then(
          () => false,
          (e: unknown) => {
            // Its staging object is gone: nothing can complete it any more, so it is reaped below.
            if (e instanceof AppError && e.code === 'UPLOAD_INCOMPLETE') return true;
            if (e instanceof AppError && e.status < 500 && e.code !== 'UPLOAD_IN_PROGRESS') return false;
            throw e;
          },
        );
        const current = lost ? await getSession(session.tenant, session.uploadId) : undefined;
        if (current?.status === 'PENDING') {
          const ended = await endSession(current, { reason: 'lost before verification', exact: true });
          if (ended.ended) {
            result.uploads++;
            garbage.push(...ended.garbage);
          }
        }
      } else if (session.expiresAt <= now) {
        const ended = await endSession(session, { reason: 'abandoned', exact: true });
        if (ended.ended) {
          result.uploads++;
          garbage.push(...ended.garbage);
        }
      }
    } else if (key.pk.startsWith('G#')) {
      garbageItems.push({
        key,
        sweepAt: due.sweepAt,
        failures: due.failures,
        item: due.item as unknown as GarbageItem,
      });
    }
  } catch (e) {
    if (isConditionFailed(e)) return;
    result.failed++;
    logger.error('sweep failed for an item; it is tried again later', { key, error: e as Error });
    await postpone(key, due.sweepAt, now + backoff(due.failures)).catch(() => undefined);
  }
}

/**
 * Deletes the objects of garbage found in the index and of what this page's removals made garbage
 * (one batch per storage), then forgets the garbage items. A storage that fails keeps its items,
 * put off with the back-off.
 */
async function deleteGarbage(
  made: Garbage[],
  found: FoundGarbage[],
  now: number,
  result: SweepResult,
): Promise<void> {
  if (made.length === 0 && found.length === 0) return;
  await failpoint('sweep.before-objects');
  const byStorage = new Map<string, { garbage: Garbage[]; found: typeof found }>();
  const entry = (storage: string) => {
    const e = byStorage.get(storage) ?? { garbage: [], found: [] };
    byStorage.set(storage, e);
    return e;
  };
  for (const g of made) entry(g.storage).garbage.push(g);
  for (const f of found) {
    const e = entry(f.item.storage);
    const { tenant, storage, key, multipartUploadId } = f.item;
    e.garbage.push({ tenant, storage, key, ...(multipartUploadId ? { multipartUploadId } : {}) });
    e.found.push(f);
  }
  for (const [storage, batch] of byStorage) {
    try {
      await deleteObjects(storage, batch.garbage);
      await forgetGarbage(batch.garbage, now);
      result.garbage += batch.garbage.length;
    } catch (e) {
      result.failed += batch.found.length;
      logger.error('objects of garbage items were not deleted; tried again later', {
        storage,
        count: batch.garbage.length,
        error: e as Error,
      });
      await Promise.all(
        batch.found.map((f) => postpone(f.key, f.sweepAt, now + backoff(f.failures)).catch(() => undefined)),
      );
    }
  }
}

/** A multipart upload assembled into its staging key lives longer than a single upload's URL. */
async function awaitedBySession(key: string): Promise<boolean> {
  const owner = parseStagingKey(key);
  if (!owner) return false;
  return (await getSession(owner.tenant, owner.uploadId))?.status === 'PENDING';
}

/**
 * Staging objects no session can still be waiting for (a client that wrote again after complete,
 * an upload that landed after its session was reaped), and on local disk the temp files of writes
 * that died. In AWS a lifecycle rule on the staging prefix does the same a day later.
 */
async function removeLeftovers(now: number, deadline: number, result: SweepResult): Promise<boolean> {
  const config = getConfig();
  const stagingCutoff =
    now - (config.presignTtlSeconds + config.pendingGraceSeconds) * 1000 - STAGING_MARGIN_MS;
  for (const name of Object.keys(config.storages)) {
    try {
      const backend = getStorage(name);
      if (backend instanceof LocalDiskBackend) {
        result.leftovers += await backend.removeStaleTemp(new Date(now - config.pendingGraceSeconds * 1000));
        // Parts of multipart uploads no session can still complete (it lives MULTIPART_TTL_SECONDS).
        result.leftovers += await backend.removeStaleParts(
          new Date(now - (config.multipartTtlSeconds + config.pendingGraceSeconds) * 1000),
        );
      }
      let cursor: string | undefined;
      do {
        if (Date.now() >= deadline) return false;
        const page = await backend.list(STAGING_PREFIX, { cursor, limit: 1000 });
        const old = page.items.filter((o) => (o.lastModified?.getTime() ?? 0) < stagingCutoff);
        const stale = (
          await Promise.all(old.map(async (o) => ((await awaitedBySession(o.key)) ? [] : [o.key])))
        ).flat();
        if (stale.length) {
          await backend.deleteMany(stale);
          result.leftovers += stale.length;
        }
        cursor = page.cursor;
      } while (cursor);
    } catch (e) {
      logger.error('leftover staging objects were not removed; tried again next run', {
        storage: name,
        error: e as Error,
      });
    }
  }
  return true;
}
