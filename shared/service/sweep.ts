import { LocalDiskBackend } from '../backends/local-disk';
import { getStorage } from '../backends/registry';
import { getConfig } from '../config';
import { AppError } from '../errors';
import { emitFileEvents } from '../events';
import { failpoint } from '../faults';
import { logger } from '../logger';
import type { Garbage } from '../metadata/blobs';
import { removalBatches, removeFileRecord, removeFileRecords } from '../metadata/files';
import { forgetGarbage } from '../metadata/garbage';
import { type FileRecord, type GarbageItem, toFileRecord, type UploadSession } from '../metadata/items';
import { SWEEP_SHARDS } from '../metadata/schema';
import { endSession, forgetCompleted, getSession } from '../metadata/sessions';
import { loadSweeperState, saveSweeperState } from '../metadata/state';
import { getDueItems, type ItemKey, keyId, postpone, queryDue } from '../metadata/sweep-index';
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
 * The shards are worked at once, each a page at a time until it is done or the time is up. A page
 * of the index is read in one batch (no read per item), its expired files are removed a tenant at
 * a time in transactions of many files and one counter update, their objects deleted in batches
 * and their garbage forgotten in batches (docs/scale.md counts the requests).
 *
 * Items that always fail (poison) cannot starve the rest: a run continues where the last one
 * stopped (each shard's position is kept), and an item that fails is put off with a growing
 * back-off. Stops before `deadline`, between pages.
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
  let stopped = false;
  const sweepShard = async (shard: number) => {
    for (;;) {
      if (outOfTime()) {
        stopped = true;
        return;
      }
      const page = await queryDue(shard, now, PAGE, cursors[shard]);
      await sweepPage(page.entries, now, result);
      if (!page.next) {
        delete cursors[shard];
        return;
      }
      cursors[shard] = page.next;
    }
  };
  try {
    await Promise.all(order.map(sweepShard));
  } finally {
    await saveSweeperState({ nextShard: (first + 1) % SWEEP_SHARDS, cursors }).catch((e: unknown) =>
      logger.warn('sweeper position not saved; the next run starts over', { error: e as Error }),
    );
  }
  if (stopped) return { ...result, complete: false };
  if (!(await removeLeftovers(now, options.deadline, result))) return { ...result, complete: false };
  return result;
}

type FoundGarbage = { key: ItemKey; sweepAt: number; failures: number; item: GarbageItem };
type Due = { key: ItemKey; sweepAt: number; failures: number };
type ExpiredFile = Due & { record: FileRecord };

/** One page of the index: its items read in one batch, then finished by kind. */
async function sweepPage(entries: { key: ItemKey }[], now: number, result: SweepResult): Promise<void> {
  if (entries.length === 0) return;
  const items = await getDueItems(entries.map((e) => e.key));
  const garbage: Garbage[] = [];
  const garbageItems: FoundGarbage[] = [];
  const files: ExpiredFile[] = [];
  const others: (() => Promise<void>)[] = [];
  for (const { key } of entries) {
    const due = items.get(keyId(key));
    if (!due || due.sweepAt > now) continue; // changed since the index saw it
    const at: Due = { key, sweepAt: due.sweepAt, failures: due.failures };
    const attempt = async (work: () => Promise<void>) => {
      try {
        await failpoint('sweep.item');
        await work();
      } catch (e) {
        await putOff(at, now, result, e);
      }
    };
    if (key.pk.startsWith('F#')) {
      const record = toFileRecord(due.item) as FileRecord;
      if (typeof record.expiresAt !== 'number' || record.expiresAt > now) continue;
      others.push(() => attempt(async () => void files.push({ ...at, record })));
    } else if (key.pk.startsWith('U#')) {
      const session = due.item as unknown as UploadSession;
      others.push(() => attempt(() => sweepSession(session, now, result, garbage)));
    } else if (key.pk.startsWith('G#')) {
      garbageItems.push({ ...at, item: due.item as unknown as GarbageItem });
    }
  }
  for (let i = 0; i < others.length; i += PARALLEL) {
    await Promise.all(others.slice(i, i + PARALLEL).map((run) => run()));
  }
  await expireFiles(files, now, result, garbage);
  await deleteGarbage(garbage, garbageItems, now, result);
}

/** An item whose handling failed: tried again after a growing back-off (a condition that failed is no failure). */
async function putOff(at: Due, now: number, result: SweepResult, error: unknown): Promise<void> {
  if (isConditionFailed(error)) return;
  result.failed++;
  logger.error('sweep failed for an item; it is tried again later', { key: at.key, error: error as Error });
  await postpone(at.key, at.sweepAt, now + backoff(at.failures)).catch(() => undefined);
}

/**
 * Expired files, a tenant at a time: as many as one transaction holds are removed together (one
 * counter update for all of them); a batch whose condition fails (a file changed since it was
 * read) and files with deduplicated bytes go one by one, each as a delete would.
 */
async function expireFiles(files: ExpiredFile[], now: number, result: SweepResult, garbage: Garbage[]) {
  const byTenant = new Map<string, ExpiredFile[]>();
  for (const f of files) byTenant.set(f.record.tenant, [...(byTenant.get(f.record.tenant) ?? []), f]);
  const removed: FileRecord[] = [];
  const one = async (f: ExpiredFile) => {
    try {
      const done = await removeFileRecord(f.record, 'expired');
      if (!done.removed) return;
      result.files++;
      garbage.push(...done.garbage);
      removed.push(f.record);
    } catch (e) {
      await putOff(f, now, result, e);
    }
  };
  await Promise.all(
    [...byTenant.values()].map(async (tenantFiles) => {
      const alone = tenantFiles.filter((f) => f.record.blobMd5);
      const byRecord = new Map(tenantFiles.map((f) => [f.record, f]));
      for (const batch of removalBatches(tenantFiles.filter((f) => !f.record.blobMd5).map((f) => f.record))) {
        const entries = batch.map((r) => byRecord.get(r) as ExpiredFile);
        const done =
          batch.length > 1 ? await removeFileRecords(batch, 'expired').catch(() => undefined) : undefined;
        if (done?.removed) {
          result.files += batch.length;
          garbage.push(...done.garbage);
          removed.push(...batch);
        } else {
          alone.push(...entries);
        }
      }
      for (let i = 0; i < alone.length; i += PARALLEL)
        await Promise.all(alone.slice(i, i + PARALLEL).map(one));
    }),
  );
  await emitFileEvents('FileExpired', removed);
}

/** A due session: a memory that ran out, a handed-off finalize to finish, or an abandoned upload to reap. */
async function sweepSession(session: UploadSession, now: number, result: SweepResult, garbage: Garbage[]) {
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
