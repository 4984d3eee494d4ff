import { randomBytes, randomUUID } from 'node:crypto';
import { baseName, extensionOf } from '../path';

export const newId = (): string => randomUUID().replaceAll('-', '');

/**
 * Backend keys never reuse a logical path: each upload writes a fresh key, so an overwrite swaps the
 * record atomically and a failed upload never damages the file it would have replaced. The two
 * characters after the tenant shard directories on local disk.
 */
export const objectKey = (tenant: string, id: string, ext: string) =>
  `${tenant}/${id.slice(0, 2)}/${id}${ext}`;

/** Deduplicated content is stored once per (tenant, storage, md5) as {md5}{.ext}. */
export const blobObjectKey = (tenant: string, md5: string, ext: string) => `${tenant}/blobs/${md5}${ext}`;

/** "report.pdf" -> "report_20261122_021500_1a2b3c4d.pdf", in the same folder. */
export function renamedPath(path: string, now = new Date()): string {
  const name = baseName(path);
  const folder = path.slice(0, path.length - name.length);
  const ext = extensionOf(name) ? name.slice(name.lastIndexOf('.')) : '';
  const stem = ext ? name.slice(0, -ext.length) : name;
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
  return `${folder}${stem}_${stamp}_${randomBytes(4).toString('hex')}${ext}`;
}

export const fileExtension = (path: string) => extensionOf(baseName(path));
