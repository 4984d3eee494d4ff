import type { Readable } from 'node:stream';

/** What every storage backend (local disk, S3, MinIO, Azure Blob, Aliyun OSS) implements. */
export interface ObjectInfo {
  key: string;
  size: number;
  lastModified?: Date;
  etag?: string;
}

export interface ByteRange {
  /** inclusive */
  start: number;
  /** inclusive */
  end: number;
}

export interface PresignedUpload {
  method: 'PUT' | 'POST';
  url: string;
  /** Headers the client must send with the upload. */
  headers: Record<string, string>;
  /** Form fields for a POST policy upload. */
  fields?: Record<string, string>;
  expiresAt: string;
}

export interface Capabilities {
  /** The backend (or the service on its behalf) can hand out an upload URL. */
  presignUpload: boolean;
  /** Downloads can be redirected to a presigned GET instead of streaming through the service. */
  presignDownload: boolean;
  range: boolean;
  multipart: boolean;
}

export interface StorageBackend {
  readonly type: string;
  readonly name: string;
  readonly capabilities: Capabilities;
  put(
    key: string,
    body: Readable | Buffer,
    options: { contentType: string; size?: number },
  ): Promise<ObjectInfo>;
  /** Throws StorageError NotFound when the key does not exist. */
  get(key: string, range?: ByteRange): Promise<{ body: Readable; info: ObjectInfo }>;
  head(key: string): Promise<ObjectInfo | null>;
  /** Idempotent: deleting a missing key succeeds. */
  delete(key: string): Promise<void>;
  deleteMany(keys: string[]): Promise<void>;
  list(
    prefix: string,
    options?: { cursor?: string; limit?: number },
  ): Promise<{ items: ObjectInfo[]; cursor?: string }>;
  presignUpload(
    key: string,
    options: { contentType: string; maxBytes: number; expiresIn: number },
  ): Promise<PresignedUpload>;
  /** null when the backend cannot presign: the service then streams the bytes itself. */
  presignDownload(
    key: string,
    options: { expiresIn: number; disposition: string; contentType: string },
  ): Promise<string | null>;
}
