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
