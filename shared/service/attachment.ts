import { getConfig } from '../config';
import type { FileRecord } from '../metadata/items';
import { encodePath } from './read';

/** The platform's attachment format (names kept so existing clients map 1:1), plus status and visibility. */
export interface Attachment {
  id: string;
  /** absent for a large multipart upload sent without one (never read by the service) */
  md5?: string;
  uid: string;
  url: string;
  name: string;
  size: number;
  type: string;
  expires: string | null;
  fileName: string;
  fullName: string;
  uploadTime: string;
  uploadUser: string;
  updateUserId: string;
  storeFullName: string;
  retentionPeriod: number | null;
  storage: string;
  sha256?: string;
  status: 'READY';
  visibility: 'private' | 'public';
}

export function toAttachment(record: FileRecord, baseUrl: string): Attachment {
  const storageQuery =
    record.storage === getConfig().defaultStorage ? '' : `?storage=${encodeURIComponent(record.storage)}`;
  return {
    id: record.id,
    md5: record.md5,
    uid: record.uploadUser,
    url: `${baseUrl}/v1/objects/${encodePath(record.path)}${storageQuery}`,
    name: record.fileName,
    size: record.size,
    type: record.contentType,
    expires: record.expiresAt === null ? null : new Date(record.expiresAt).toISOString(),
    fileName: record.fileName,
    fullName: record.path,
    uploadTime: record.uploadTime,
    uploadUser: record.uploadUser,
    updateUserId: record.updateUserId,
    storeFullName: record.key,
    retentionPeriod: record.retentionSeconds,
    storage: record.storage,
    sha256: record.sha256,
    status: record.status,
    visibility: record.visibility,
  };
}
