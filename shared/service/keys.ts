import { randomBytes, randomUUID } from 'node:crypto';
import { AppError } from '../errors';
import { baseName, extensionOf, MAX_PATH_BYTES } from '../path';

export const newId = (): string => randomUUID().replaceAll('-', '');

/**
 * Backend keys are never reused: every upload, every finalize attempt and every blob incarnation
 * writes a fresh key. So an overwrite swaps the record atomically, a failed upload never damages
 * the file it would have replaced, and deleting a key that was handed to garbage can never hit
 * bytes that someone uses. The two characters after the tenant shard directories on local disk.
 */
export const objectKey = (tenant: string, id: string, ext: string) =>
  `${tenant}/${id.slice(0, 2)}/${id}${ext}`;

/**
 * Where clients send the bytes of a direct upload. No file record ever points here: finalize
 * promotes the object to a fresh key that no client URL can reach. The leading `_` cannot start a
 * tenant id, so this prefix never holds a tenant's files, and a lifecycle rule (or the sweeper,
 * on one machine) can expire what is left in it.
 */
export const STAGING_PREFIX = '_staging/';
export const stagingKey = (tenant: string, uploadId: string, ext: string) =>
  `${STAGING_PREFIX}${tenant}/${uploadId}${ext}`;

/**
 * Where a multipart upload is joined when the backend's part URLs can write nothing once the
 * upload is completed (S3, MinIO, OSS, local disk: a part URL names an upload id that completing
 * ends). The joined object is the file's object as it stands: no copy, so no 5 GiB copy limit.
 * A prefix of its own (not the tenant's) so the bucket notification can run the finalize on it,
 * as it does on staging, without running on every file the service writes. Unlike staging, it
 * holds files: no lifecycle rule expires it, and nothing deletes what a session does not own.
 */
export const ASSEMBLED_PREFIX = '_assembled/';
export const assembledKey = (tenant: string, uploadId: string, ext: string) =>
  `${ASSEMBLED_PREFIX}${tenant}/${uploadId.slice(0, 2)}/${uploadId}${ext}`;

const ASSEMBLED_KEY = new RegExp(
  `^${ASSEMBLED_PREFIX}([^/]+)/[0-9a-f]{2}/([0-9a-f]{32})(\\.[a-z0-9]{1,16})?$`,
);

/** The tenant and upload of an assembled key (assembledKey's inverse); undefined for any other key. */
export function parseAssembledKey(key: string): { tenant: string; uploadId: string } | undefined {
  const [, tenant, uploadId] = ASSEMBLED_KEY.exec(key) ?? [];
  return tenant && uploadId && key.includes(`/${uploadId.slice(0, 2)}/${uploadId}`)
    ? { tenant, uploadId }
    : undefined;
}

/** What the bucket notification (on-object-created) subscribes: the keys clients (or complete) write. */
export const NOTIFIED_PREFIXES = [STAGING_PREFIX, ASSEMBLED_PREFIX] as const;

/**
 * Deduplicated content: one blob per (tenant, storage, md5) at a time, stored under a key unique
 * to its incarnation (the upload that claimed it), so a blob released and claimed again never
 * shares an object key with its predecessor.
 */
const STAGING_KEY = new RegExp(`^${STAGING_PREFIX}([^/]+)/([0-9a-f]{32})(\\.[a-z0-9]{1,16})?$`);

/** The tenant and upload of a staging key (stagingKey's inverse); undefined for any other key. */
export function parseStagingKey(key: string): { tenant: string; uploadId: string } | undefined {
  const [, tenant, uploadId] = STAGING_KEY.exec(key) ?? [];
  return tenant && uploadId ? { tenant, uploadId } : undefined;
}

export const blobObjectKey = (tenant: string, md5: string, owner: string, ext: string) =>
  `${tenant}/blobs/${md5}-${owner}${ext}`;

/**
 * "report.pdf" -> "report_20261122_021500_1a2b3c4d.pdf", in the same folder. The stem is shortened
 * (on a character boundary) so the new path stays within the path limit; a folder so long that no
 * name fits is PATH_TOO_LONG.
 */
export function renamedPath(path: string, now = new Date()): string {
  const name = baseName(path);
  const folder = path.slice(0, path.length - name.length);
  const ext = extensionOf(name) ? name.slice(name.lastIndexOf('.')) : '';
  const stem = ext ? name.slice(0, -ext.length) : name;
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
  const suffix = `_${stamp}_${randomBytes(4).toString('hex')}${ext}`;
  const room = MAX_PATH_BYTES - Buffer.byteLength(folder) - Buffer.byteLength(suffix);
  if (room < 1) {
    throw new AppError('PATH_TOO_LONG', 'The path is too long to rename within the path limit');
  }
  let kept = '';
  for (const char of stem) {
    if (Buffer.byteLength(kept + char) > room) break;
    kept += char;
  }
  return `${folder}${kept || '_'}${suffix}`;
}

export const fileExtension = (path: string) => extensionOf(baseName(path));
