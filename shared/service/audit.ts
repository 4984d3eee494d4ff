import type { ObjectInfo } from '../backends/contract';
import { getStorage } from '../backends/registry';
import { getConfig } from '../config';
import { AppError } from '../errors';
import { logger } from '../logger';
import { retireBlob, setRefCount } from '../metadata/blobs';
import { filesOf, removeFileRecord } from '../metadata/files';
import { garbageOfItem, markGarbage } from '../metadata/garbage';
import {
  type BlobItem,
  type FileRecord,
  type GarbageItem,
  THUMBNAIL_PREFIX,
  thumbnailKey,
  type UploadSession,
} from '../metadata/items';
import { getQuotaState } from '../metadata/quota';
import { endSession, ownedKeys } from '../metadata/sessions';
import { blobsOf, garbageOf, scanTenants, sessionsOf } from '../metadata/tenants';
import { collectGarbage } from './gc';
import { ASSEMBLED_PREFIX, STAGING_PREFIX } from './keys';
import { TENANT_PATTERN } from './principal';
import { recalculateUsage } from './usage';

export type FindingKind =
  | 'orphan-object'
  | 'missing-object'
  | 'refcount-mismatch'
  | 'unused-blob'
  | 'stale-claim'
  | 'stale-session'
  | 'counter-drift'
  | 'pending-garbage';

export interface Finding {
  kind: FindingKind;
  tenant: string;
  storage?: string;
  /** object key, file path, blob md5 or upload id */
  subject: string;
  detail: string;
  /** --repair: whether this finding was fixed (false: it changed meanwhile, or repair failed) */
  repaired?: boolean;
}

export interface AuditReport {
  tenants: number;
  findings: Finding[];
  /** false when the time budget ran out; `cursor` continues */
  complete: boolean;
  cursor?: string;
}

export interface AuditOptions {
  repair: boolean;
  /** epoch ms to stop by (between tenants) */
  deadline: number;
  /** objects younger than this are never called orphans: an upload may be writing them */
  minAgeMs?: number;
  now?: number;
}

const MIN_AGE_MS = 15 * 60 * 1000;
/** A PENDING session is stale when it outlived its deadline by this much: the sweeper should have reaped it. */
const STALE_MS = 5 * 60 * 1000;
/** Garbage older than this should have been collected. */
const OLD_GARBAGE_MS = 60 * 60 * 1000;

/** What the tenant's items say, read in the order that ownership moves (see docs/decisions.md). */
interface Snapshot {
  blobs: BlobItem[];
  sessions: UploadSession[];
  files: FileRecord[];
  garbage: GarbageItem[];
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/**
 * Blobs, then sessions, then files, then garbage. Ownership of an object only ever moves from a
 * session to a file, from a session, file or blob to garbage, and a claim is born and dies with
 * its session: reading in this order, an object that changes owner while the audit reads is seen
 * at its old owner or its new one, never at neither. Blobs come first so that every reference
 * counted later is one the blob's count already held, or one that changed the count (and then a
 * repair conditioned on the count read fails).
 */
async function snapshot(tenant: string, storages: string[]): Promise<Snapshot> {
  const blobs: BlobItem[] = [];
  for (const s of storages) blobs.push(...(await collect(blobsOf(tenant, s))));
  const sessions = await collect(sessionsOf(tenant));
  const files: FileRecord[] = [];
  for (const s of storages) {
    files.push(...(await collect(filesOf(tenant, s))));
  }
  const garbage: GarbageItem[] = [];
  for (const s of storages) garbage.push(...(await collect(garbageOf(tenant, s))));
  return { blobs, sessions, files, garbage };
}

function referencedKeys(snap: Snapshot, storage: string): Set<string> {
  const keys = new Set<string>();
  for (const f of snap.files) {
    if (f.storage !== storage) continue;
    keys.add(f.key);
    for (const variant of f.thumbnails ?? []) keys.add(thumbnailKey(f, variant));
  }
  for (const b of snap.blobs) if (b.storage === storage) keys.add(b.key);
  for (const u of snap.sessions) {
    if (u.storage === storage && u.status === 'PENDING') for (const k of ownedKeys(u)) keys.add(k);
  }
  for (const g of snap.garbage) {
    if (g.storage !== storage) continue;
    keys.add(g.key);
    for (const k of g.keys ?? []) keys.add(k);
  }
  return keys;
}

async function listObjects(storage: string, prefix: string): Promise<ObjectInfo[]> {
  const backend = getStorage(storage);
  const out: ObjectInfo[] = [];
  let cursor: string | undefined;
  do {
    const page = await backend.list(prefix, { cursor, limit: 1000 });
    out.push(...page.items);
    cursor = page.cursor;
  } while (cursor);
  return out;
}

/**
 * Audits one tenant: orphan objects, files without their object, blob reference counts, unused
 * blobs, claims without their upload, stale sessions, counter drift and garbage left over. With
 * `repair`, fixes each one with the same conditional operations the service uses, so a repair
 * that races a live upload or delete does nothing rather than the wrong thing.
 */
export async function auditTenant(tenant: string, options: AuditOptions): Promise<Finding[]> {
  if (!TENANT_PATTERN.test(tenant)) throw new AppError('INVALID_REQUEST', 'Not a valid tenant id');
  const now = options.now ?? Date.now();
  const minAge = options.minAgeMs ?? MIN_AGE_MS;
  const findings: Finding[] = [];
  const found = (f: Finding) => {
    findings.push(f);
    return f;
  };
  const configured = Object.keys(getConfig().storages);
  // The counter first: a recount is written only if the counter did not move since.
  const quota = await getQuotaState(tenant);
  const storages = [...new Set([...configured, ...quota.storages])];

  // Objects before items: an object written after the listing is not judged at all.
  const objects = new Map<string, ObjectInfo[]>();
  for (const storage of configured) {
    objects.set(storage, [
      ...(await listObjects(storage, `${tenant}/`)),
      ...(await listObjects(storage, `${STAGING_PREFIX}${tenant}/`)),
      ...(await listObjects(storage, `${ASSEMBLED_PREFIX}${tenant}/`)),
      ...(await listObjects(storage, `${THUMBNAIL_PREFIX}${tenant}/`)),
    ]);
  }
  const snap = await snapshot(tenant, storages);

  // Orphans: listed, old enough, and referenced by nothing (confirmed by a second read for repair).
  const orphans: { storage: string; key: string }[] = [];
  for (const [storage, list] of objects) {
    const referenced = referencedKeys(snap, storage);
    for (const o of list) {
      const age = now - (o.lastModified?.getTime() ?? now);
      if (!referenced.has(o.key) && age >= minAge) orphans.push({ storage, key: o.key });
    }
  }
  if (orphans.length) {
    const confirm = options.repair ? await snapshot(tenant, storages) : snap;
    for (const o of orphans) {
      const f = found({
        kind: 'orphan-object',
        tenant,
        storage: o.storage,
        subject: o.key,
        detail: 'an object that no file (nor its thumbnails), blob, upload or garbage item refers to',
      });
      if (options.repair && !referencedKeys(confirm, o.storage).has(o.key)) {
        const g = { tenant, storage: o.storage, key: o.key };
        await markGarbage([g], 'orphan (audit)');
        f.repaired = (await collectGarbage([g])) === 1;
      } else if (options.repair) f.repaired = false;
    }
  }

  // Files whose object is gone: the record is a lie; repair removes it and gives its bytes back.
  const listed = new Map([...objects].map(([s, list]) => [s, new Set(list.map((o) => o.key))]));
  for (const record of snap.files) {
    if (!listed.has(record.storage) || listed.get(record.storage)?.has(record.key)) continue;
    if (await getStorage(record.storage).head(record.key)) continue; // written after the listing
    const f = found({
      kind: 'missing-object',
      tenant,
      storage: record.storage,
      subject: record.path,
      detail: `the file's object ${record.key} does not exist`,
    });
    if (options.repair) {
      const removed = await removeFileRecord(record, 'lost');
      await collectGarbage(removed.garbage);
      f.repaired = removed.removed;
      logger.warn('audit removed a file whose bytes were lost', {
        tenant,
        path: record.path,
        key: record.key,
      });
    }
  }

  // Blobs: a READY blob counts its files and the uploads pinning it; a claim needs its upload.
  const pendingIds = new Set(snap.sessions.filter((u) => u.status === 'PENDING').map((u) => u.uploadId));
  for (const blob of snap.blobs) {
    if (blob.state === 'WRITING') {
      if (blob.owner && pendingIds.has(blob.owner)) continue;
      const f = found({
        kind: 'stale-claim',
        tenant,
        storage: blob.storage,
        subject: blob.md5,
        detail: `claimed by ${blob.owner}, which is not an upload in progress`,
      });
      if (options.repair) f.repaired = await retire(blob, 'stale claim (audit)');
      continue;
    }
    const users =
      snap.files.filter((r) => r.storage === blob.storage && r.blobMd5 === blob.md5).length +
      snap.sessions.filter(
        (u) =>
          u.status === 'PENDING' &&
          u.blob?.mode === 'pinned' &&
          u.blob.md5 === blob.md5 &&
          u.storage === blob.storage,
      ).length;
    if (users === 0) {
      const f = found({
        kind: 'unused-blob',
        tenant,
        storage: blob.storage,
        subject: blob.md5,
        detail: `READY with refCount ${blob.refCount} and no file using it`,
      });
      if (options.repair) f.repaired = await retire(blob, 'unused blob (audit)');
    } else if (users !== blob.refCount) {
      const f = found({
        kind: 'refcount-mismatch',
        tenant,
        storage: blob.storage,
        subject: blob.md5,
        detail: `refCount ${blob.refCount}, used by ${users}`,
      });
      if (options.repair) f.repaired = await setRefCount(blob, blob.refCount, users);
    }
  }

  // Sessions the sweeper should have reaped.
  for (const session of snap.sessions) {
    if (session.status !== 'PENDING' || session.expiresAt > now - STALE_MS) continue;
    const f = found({
      kind: 'stale-session',
      tenant,
      storage: session.storage,
      subject: session.uploadId,
      detail: `PENDING ${Math.round((now - session.expiresAt) / 1000)} s past its deadline`,
    });
    if (options.repair) {
      const ended = await endSession(session, {
        reason: 'stale (audit)',
        exact: true,
      });
      await collectGarbage(ended.garbage);
      f.repaired = ended.ended;
    }
  }

  // Garbage the collectors should have deleted by now.
  const oldGarbage = snap.garbage.filter((g) => Date.parse(g.createdAt) < now - OLD_GARBAGE_MS);
  for (const g of oldGarbage) {
    const f = found({
      kind: 'pending-garbage',
      tenant,
      storage: g.storage,
      subject: g.key,
      detail: `garbage since ${g.createdAt} (${g.reason})`,
    });
    if (options.repair) {
      const objects = garbageOfItem(g);
      f.repaired = (await collectGarbage(objects)) === objects.length;
    }
  }

  // Counters against the items, as counted after the counter was read.
  const used = snap.files.reduce((n, r) => n + r.size, 0);
  const reserved = snap.sessions
    .filter((u) => u.status === 'PENDING')
    .reduce((n, u) => n + u.reservedBytes, 0);
  const totals = { usedBytes: used, fileCount: snap.files.length, reservedBytes: reserved };
  if (
    quota.usedBytes !== totals.usedBytes ||
    quota.fileCount !== totals.fileCount ||
    quota.reservedBytes !== totals.reservedBytes
  ) {
    const f = found({
      kind: 'counter-drift',
      tenant,
      subject: tenant,
      detail: `counters ${JSON.stringify({ usedBytes: quota.usedBytes, fileCount: quota.fileCount, reservedBytes: quota.reservedBytes })}, items ${JSON.stringify(totals)}`,
    });
    // The repairs above moved the counters too: recount now, written only if nothing moves meanwhile.
    if (options.repair)
      f.repaired = await recalculateUsage(tenant).then(
        () => true,
        () => false,
      );
  }
  return findings;
}

async function retire(blob: BlobItem, reason: string): Promise<boolean> {
  const retired = await retireBlob(blob, reason);
  if (retired) await collectGarbage(retired.garbage);
  return retired !== null;
}

/**
 * Audits one tenant, or every tenant (from the cursor on), tenant by tenant until the deadline.
 * The cursor is the last tenant audited.
 */
export async function runAudit(
  input: { tenant?: string; cursor?: string },
  options: AuditOptions,
): Promise<AuditReport> {
  if (input.tenant) {
    return { tenants: 1, findings: await auditTenant(input.tenant, options), complete: true };
  }
  const report: AuditReport = { tenants: 0, findings: [], complete: true };
  if (input.cursor !== undefined && !TENANT_PATTERN.test(input.cursor)) {
    throw new AppError('INVALID_CURSOR', 'The cursor is not one this audit handed out');
  }
  let start: Record<string, unknown> | undefined = input.cursor
    ? { pk: `Q#${input.cursor}`, sk: '-' }
    : undefined;
  do {
    const page = await scanTenants(start);
    for (const tenant of page.tenants) {
      if (Date.now() >= options.deadline) return { ...report, complete: false };
      report.findings.push(...(await auditTenant(tenant, options)));
      report.tenants++;
      report.cursor = tenant;
    }
    start = page.next;
  } while (start);
  return { ...report, cursor: undefined };
}
