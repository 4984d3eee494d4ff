import { createHash } from 'node:crypto';
import { SWEEP_SHARDS } from './schema';

export type Visibility = 'private' | 'public';
export type OnConflict = 'overwrite' | 'rename' | 'fail';

/** A stored file (status READY). Item at F#{tenant}#{storage} / {path}. */
export interface FileRecord {
  id: string;
  tenant: string;
  storage: string;
  path: string;
  /** The object's key in the backend (for deduplicated content: the blob's key). */
  key: string;
  fileName: string;
  contentType: string;
  size: number;
  /**
   * Hex digests of the bytes. Absent only for a large multipart direct upload without a declared
   * md5: the service never read it (the storage checked each part), see readsWhole in direct-upload.
   */
  md5?: string;
  sha256?: string;
  status: 'READY';
  visibility: Visibility;
  uploadTime: string;
  uploadUser: string;
  updateUserId: string;
  /** epoch ms, or null for files that never expire */
  expiresAt: number | null;
  /** the `expires` given at upload, in seconds */
  retentionSeconds: number | null;
  /** set when the bytes live in a deduplicated blob (B#... item) shared by reference */
  blobMd5?: string;
  /** bumped when the owner revokes the file's links (absent = 0); every link signs the value it was made with */
  linkGeneration?: number;
  /**
   * Thumbnail variants (shared/images/thumbnail.ts variantName) whose objects this file owns:
   * reserved here before a derivative is written, so whoever removes or replaces the file hands
   * each of them to garbage. Only ever grows while the file lives.
   */
  thumbnails?: string[];
  /** The variants whose objects are written: served from the cache. */
  thumbnailsReady?: string[];
  /** The image format its bytes showed when a thumbnail was first made of it (picks the variant before any read). */
  imageFormat?: string;
}

/** How an upload with md5 relates to the deduplicated blob of that content. */
export interface BlobUse {
  md5: string;
  key: string;
  /** claimed: this upload writes a new blob (state WRITING, owner = the upload); pinned: it holds a reference to a READY one */
  mode: 'claimed' | 'pinned';
}

/**
 * An upload in progress (PENDING) or a direct upload's remembered result (COMPLETED). A PENDING
 * session holds the quota reservation and owns every object the upload writes: `key`, a claimed
 * blob's key, and the key a finalize is promoting to, so whoever ends it (commit, failure, the
 * sweeper) knows exactly which objects become garbage.
 */
export interface UploadSession {
  uploadId: string;
  tenant: string;
  storage: string;
  path: string;
  /** stream: the object the upload writes; direct: the staging object that clients write */
  key: string;
  kind: 'stream' | 'direct';
  /** FAILED: a direct upload refused where its client could not hear it (an asynchronous finalize) */
  status: 'PENDING' | 'COMPLETED' | 'FAILED';
  /** FAILED: why, as the API would have answered */
  error?: { code: string; message: string };
  /** PENDING: complete handed the checks to an asynchronous finalize (the storage event, a background task, the sweeper) */
  verifying?: boolean;
  reservedBytes: number;
  contentType: string;
  md5?: string;
  expires?: number;
  visibility: Visibility;
  onConflict: OnConflict;
  uploadUser: string;
  createdAt: string;
  /** epoch ms: the sweeper reaps a PENDING session after this (moved by heartbeats and finalize leases) */
  expiresAt: number;
  blob?: BlobUse;
  /** direct: the finalize attempt that holds the lease, the fresh key it promotes to, and until when */
  finalizer?: string;
  finalizeKey?: string;
  leaseUntil?: number;
  /** COMPLETED: the key of the file the upload became */
  committedKey?: string;
  /** bumped by every change to a PENDING session, so an end "exactly as seen" can tell */
  version?: number;
  /** direct uploads sent in parts: the backend's multipart upload that assembles into `key` */
  multipart?: MultipartPlan;
  /** The shard of the tenant's quota counter that holds this session's reservation (absent: 0). */
  quotaShard?: number;
}

/** A multipart direct upload: the backend's upload id, and the parts the client was told to send. */
export interface MultipartPlan {
  uploadId: string;
  partSize: number;
  parts: number;
}

/** One stored copy of content shared by every file uploaded with the same md5. */
export interface BlobItem {
  tenant: string;
  storage: string;
  md5: string;
  /** Unique per incarnation: a blob released and claimed again never reuses an object key. */
  key: string;
  state: 'WRITING' | 'READY';
  /** READY: files referencing it + PENDING sessions pinning it */
  refCount: number;
  /** WRITING: the session that writes it */
  owner?: string;
}

/**
 * An object that nothing references any more: the sweeper deletes it if its remover could not.
 * A batch item (`key` = `~batch/{id}`, written by a removal of many files at once) stands for all
 * the objects of `keys`.
 */
export interface GarbageItem {
  tenant: string;
  storage: string;
  key: string;
  keys?: string[];
  /** epoch ms: a writer may still put the object until then (a thumbnail render), so the sweeper deletes it again after */
  settleAt?: number;
  /** the multipart upload that would assemble into `key`: aborted (its parts dropped) before the delete */
  multipartUploadId?: string;
  reason: string;
  createdAt: string;
}

export const fileKey = (tenant: string, storage: string, path: string) => ({
  pk: `F#${tenant}#${storage}`,
  sk: path,
});
export const sessionKey = (tenant: string, uploadId: string) => ({ pk: `U#${tenant}`, sk: uploadId });
export const blobKey = (tenant: string, storage: string, md5: string) => ({
  pk: `B#${tenant}#${storage}`,
  sk: md5,
});
export const garbageKey = (tenant: string, storage: string, key: string) => ({
  pk: `G#${tenant}#${storage}`,
  sk: key,
});
export const quotaKey = (tenant: string) => ({ pk: `Q#${tenant}`, sk: '-' });

/**
 * Thumbnails of a file: under a prefix of their own (the bucket notification and the staging
 * lifecycle rule never see them), named by the file's id, so a replaced file's thumbnails can
 * never be served for its successor, and by the variant.
 */
export const THUMBNAIL_PREFIX = '_thumbs/';
export const thumbnailKey = (record: { tenant: string; id: string }, variant: string) =>
  `${THUMBNAIL_PREFIX}${record.tenant}/${record.id.slice(0, 2)}/${record.id}/${variant}`;

/**
 * A thumbnail render may still be writing a variant it reserved when its file goes: its garbage
 * settles only this long after (longer than any function that renders may run: 5 minutes).
 */
export const THUMBNAIL_SETTLE_MS = 10 * 60 * 1000;

/** Attributes that put an item into the sparse sweep index at `at` (epoch ms); none for null. */
export function sweepAttributes(key: { pk: string; sk: string }, at: number | null | undefined) {
  if (at === null || at === undefined) return {};
  const shard = createHash('sha1').update(`${key.pk}\n${key.sk}`).digest().readUInt8(0) % SWEEP_SHARDS;
  return { sweepShard: `SW#${shard}`, sweepAt: at };
}

/** Strips the storage attributes from an item. */
/** Table bookkeeping that is no part of what an item describes. */
const BOOKKEEPING = new Set(['pk', 'sk', 'sweepShard', 'sweepAt', 'sweepFailures', 'ttl', 'rev']);

// A loop, not a rest pattern: V8 copies an object rest slowly (a list maps 1000 items per page).
export function strip<T>(item: Record<string, unknown> | undefined): T | undefined {
  if (!item) return undefined;
  const rest: Record<string, unknown> = {};
  for (const name in item) if (!BOOKKEEPING.has(name)) rest[name] = item[name];
  return rest as T;
}

export function fileItem(record: FileRecord) {
  // expiresAt must be a number or absent, never NULL: absent means "never expires".
  const { expiresAt, ...rest } = record;
  const key = fileKey(record.tenant, record.storage, record.path);
  return {
    ...key,
    ...rest,
    ...(expiresAt === null ? {} : { expiresAt }),
    ...sweepAttributes(key, expiresAt),
  };
}

/** A stored file item back as a record (absent expiresAt = never expires; string sets as sorted arrays). */
export function toFileRecord(item: Record<string, unknown> | undefined): FileRecord | undefined {
  const record = strip<FileRecord>(item);
  if (!record) return undefined;
  record.expiresAt ??= null;
  // Sets as sorted arrays (JSON has no sets), and absent when empty.
  for (const name of ['thumbnails', 'thumbnailsReady'] as const) {
    const set: unknown = record[name];
    if (set instanceof Set) record[name] = [...(set as Set<string>)].sort();
    else delete record[name];
  }
  return record;
}

/**
 * The condition that a path still holds exactly this file: its id, and the thumbnail variants
 * reserved on it as read (the set only grows, so its size tells). A remover or replacer hands
 * every reserved variant to garbage; one reserved after its read fails this, and it reads again.
 */
export function isExactly(record: FileRecord): {
  ConditionExpression: string;
  ExpressionAttributeValues: Record<string, unknown>;
} {
  const reserved = record.thumbnails?.length ?? 0;
  return reserved === 0
    ? {
        ConditionExpression: 'id = :id AND attribute_not_exists(thumbnails)',
        ExpressionAttributeValues: { ':id': record.id },
      }
    : {
        ConditionExpression: 'id = :id AND size(thumbnails) = :reserved',
        ExpressionAttributeValues: { ':id': record.id, ':reserved': reserved },
      };
}

export function sessionItem(session: UploadSession) {
  const key = sessionKey(session.tenant, session.uploadId);
  return { ...key, ...session, ...sweepAttributes(key, session.expiresAt) };
}

/** The key of a garbage batch item: no object key starts with "~" (tenants, `_staging/`, `_thumbs/`, ...). */
export const GARBAGE_BATCH_PREFIX = '~batch/';

export function garbageItem(
  g: {
    tenant: string;
    storage: string;
    key: string;
    keys?: string[];
    multipartUploadId?: string;
    settleAt?: number;
  },
  reason: string,
  now = Date.now(),
) {
  const k = garbageKey(g.tenant, g.storage, g.key);
  const item: GarbageItem = {
    tenant: g.tenant,
    storage: g.storage,
    key: g.key,
    ...(g.keys ? { keys: g.keys } : {}),
    ...(g.multipartUploadId ? { multipartUploadId: g.multipartUploadId } : {}),
    ...(g.settleAt ? { settleAt: g.settleAt } : {}),
    reason,
    createdAt: new Date(now).toISOString(),
  };
  return { ...k, ...item, ...sweepAttributes(k, Math.max(now, g.settleAt ?? now)) };
}

export const isExpired = (r: { expiresAt: number | null }, now = Date.now()) =>
  r.expiresAt !== null && r.expiresAt <= now;
