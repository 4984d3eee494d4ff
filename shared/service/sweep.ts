import { LocalDiskBackend } from '../backends/local-disk';
import { getStorage } from '../backends/registry';
import { getConfig } from '../config';
import { AppError } from '../errors';
import { emitFileEvents } from '../events';
import { failpoint } from '../faults';
import { logger } from '../logger';
import type { Garbage } from '../metadata/blobs';
import { removalBatches, removeFileRecord, removeFileRecords } from '../metadata/files';
import { forgetGarbage, garbageOfItem } from '../metadata/garbage';
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

/** Index entries per shard and round: the round's items are read 100 a request, removed up to 49 files a transaction. */
const PAGE = 250;
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
 * Each round takes a page of every shard at once and sweeps them together until the shards are
 * done or the time is up: the items are read in batches (no read per item), the expired files are
 * removed a tenant at a time in transactions of many files and one counter update, their objects
 * deleted in batches and their garbage forgotten in batches (docs/scale.md counts the requests).
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
  const open = Array.from({ length: SWEEP_SHARDS }, (_, i) => (first + i) % SWEEP_SHARDS);
  let stopped = false;
  try {
    // A page of every shard at once, swept together: a tenant's files from all shards land in the
    // same transactions (one counter update each, and no two of them racing for its counter).
    while (open.length > 0 && !stopped) {
      if (outOfTime()) {
        stopped = true;
        break;
      }
      const pages = await Promise.all(open.map((shard) => queryDue(shard, now, PAGE, cursors[shard])));
      const handled = await sweepPage(
        pages.flatMap((p) => p.entries),
        now,
        result,
        outOfTime,
      );
      for (const [i, page] of [...pages.entries()].reverse()) {
        const shard = open[i] as number;
        // A shard goes on after the items handled in order; a run that stopped midway leaves the
        // rest (and anything handled after a gap, which the next run finds done) for the next.
        const done = page.entries.findIndex((e) => !handled.has(keyId(e.key)));
        if (done >= 0) {
          stopped = true;
          const last = page.entries[done - 1];
          if (last) cursors[shard] = last.position;
        } else if (page.next) cursors[shard] = page.next;
        else {
          delete cursors[shard];
          open.splice(i, 1);
        }
      }
    }
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

/**
 * One round's index entries: their items read in batches, then finished by kind, as long as there
 * is time. Returns the keys handled (done, put off, or found not due any more).
 */
async function sweepPage(
  entries: { key: ItemKey }[],
  now: number,
  result: SweepResult,
  outOfTime: () => boolean,
): Promise<Set<string>> {
  const handled = new Set<string>();
  if (entries.length === 0) return handled;
  const items = await getDueItems(entries.map((e) => e.key));
  const garbage: Garbage[] = [];
  const garbageItems: FoundGarbage[] = [];
  const files: ExpiredFile[] = [];
  const sessions: { due: Due; session: UploadSession }[] = [];
  for (const { key } of entries) {
    const due = items.get(keyId(key));
    const at = due && { key, sweepAt: due.sweepAt, failures: due.failures };
    const record = key.pk.startsWith('F#') && due ? toFileRecord(due.item) : undefined;
    if (!due || !at || due.sweepAt > now)
      handled.add(keyId(key)); // changed since the index saw it
    else if (record) {
      if (typeof record.expiresAt === 'number' && record.expiresAt <= now) files.push({ ...at, record });
      else handled.add(keyId(key));
    } else if (key.pk.startsWith('U#'))
      sessions.push({ due: at, session: due.item as unknown as UploadSession });
    else if (key.pk.startsWith('G#')) garbageItems.push({ ...at, item: due.item as unknown as GarbageItem });
    else handled.add(keyId(key));
  }
  for (let i = 0; i < sessions.length && !outOfTime(); i += PARALLEL) {
    await Promise.all(
      sessions.slice(i, i + PARALLEL).map(async ({ due, session }) => {
        try {
          await failpoint('sweep.item');
          await sweepSession(session, now, result, garbage);
        } catch (e) {
          await putOff(due, now, result, e);
        }
        handled.add(keyId(due.key));
      }),
    );
  }
  await expireFiles(files, now, result, garbage, handled, outOfTime);
  await deleteGarbage(garbage, garbageItems, now, result);
  for (const g of garbageItems) handled.add(keyId(g.key));
  return handled;
}

/** An item whose handling failed: tried again after a growing back-off (a condition that failed is no failure). */
async function putOff(at: Due, now: number, result: SweepResult, error: unknown): Promise<void> {
  if (isConditionFailed(error)) return;
  result.failed++;
  logger.error('sweep failed for an item; it is tried again later', { key: at.key, error: error as Error });
  await postpone(at.key, at.sweepAt, now + backoff(at.failures)).catch(() => undefined);
}

/**
 * Expired files, a tenant at a time (tenants at once): as many as one transaction holds are
 * removed together (one counter update for all of them); the files of a batch whose condition
 * fails (a file changed since it was read), and files with deduplicated bytes, go one by one,
 * each as a delete would. Stops starting work when the time is up.
 */
async function expireFiles(
  files: ExpiredFile[],
  now: number,
  result: SweepResult,
  garbage: Garbage[],
  handled: Set<string>,
  outOfTime: () => boolean,
) {
  const byTenant = new Map<string, ExpiredFile[]>();
  for (const f of files) byTenant.set(f.record.tenant, [...(byTenant.get(f.record.tenant) ?? []), f]);
  const removed: FileRecord[] = [];
  const gone = (done: ExpiredFile[], removal: { garbage: Garbage[] }) => {
    result.files += done.length;
    garbage.push(...removal.garbage);
    removed.push(...done.map((f) => f.record));
  };
  /** One by one, 16 at a time (each its own small transaction); each failure is put off on its own. */
  const oneByOne = async (list: ExpiredFile[]) => {
    for (let i = 0; i < list.length && !outOfTime(); i += 2 * PARALLEL) {
      await Promise.all(
        list.slice(i, i + 2 * PARALLEL).map(async (f) => {
          try {
            await failpoint('sweep.item');
            const removal = await removeFileRecord(f.record, 'expired');
            if (removal.removed) gone([f], removal);
          } catch (e) {
            await putOff(f, now, result, e);
          }
          handled.add(keyId(f.key));
        }),
      );
    }
  };
  await Promise.all(
    [...byTenant.values()].map(async (tenantFiles) => {
      const byRecord = new Map(tenantFiles.map((f) => [f.record, f]));
      const byStorage = new Map<string, FileRecord[]>();
      for (const f of tenantFiles.filter((f) => !f.record.blobMd5)) {
        byStorage.set(f.record.storage, [...(byStorage.get(f.record.storage) ?? []), f.record]);
      }
      for (const batch of [...byStorage.values()].flatMap(removalBatches)) {
        if (outOfTime()) return;
        const batchFiles = batch.map((r) => byRecord.get(r) as ExpiredFile);
        const removal =
          batch.length > 1
            ? await failpoint('sweep.item')
                .then(() => removeFileRecords(batch, 'expired'))
                .catch(() => undefined)
            : undefined;
        if (removal?.removed) {
          gone(batchFiles, removal);
          for (const f of batchFiles) handled.add(keyId(f.key));
        } else await oneByOne(batchFiles);
      }
      await oneByOne(tenantFiles.filter((f) => f.record.blobMd5));
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
    e.garbage.push(...garbageOfItem(f.item));
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
