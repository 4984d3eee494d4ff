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

/** A part sent to a presigned part URL: its number and the ETag header the storage answered with. */
export interface UploadedPart {
  partNumber: number;
  etag?: string;
}

/** A part the storage holds for a multipart upload that is not completed yet. */
export interface StoredPart {
  partNumber: number;
  size: number;
  /** What complete wants back for this part (the ETag its PUT answered where the storage sends one). */
  etag: string;
}

/**
 * Direct multipart uploads of large files (S3, MinIO, OSS multipart uploads; Azure block lists):
 * the client sends each part to its own presigned URL and reports the parts back. Parts are 1 to
 * 10 000; on S3 every part but the last must be at least 5 MiB (OSS: 100 KiB).
 */
export interface MultipartUploads {
  create(key: string, options: { contentType: string }): Promise<{ uploadId: string }>;
  /** A PUT of the part's bytes, sent without a content type. */
  presignPart(
    key: string,
    uploadId: string,
    partNumber: number,
    options: { expiresIn: number },
  ): Promise<PresignedUpload>;
  /**
   * The parts stored so far, ascending by partNumber; [] when none. Throws StorageError NotFound
   * when the multipart upload itself does not exist (aborted or completed). Azure has no upload
   * object: there an unknown upload is simply [].
   */
  listParts(key: string, uploadId: string): Promise<StoredPart[]>;
  /**
   * Joins the parts, in the order given, into the object. A part that was never sent, or whose
   * etag is not the stored part's, fails with StorageError InvalidPart and leaves no object.
   */
  complete(
    key: string,
    uploadId: string,
    parts: UploadedPart[],
    options: { contentType: string },
  ): Promise<ObjectInfo>;
  /** Drops the parts sent so far; succeeds when there is nothing to drop. */
  abort(key: string, uploadId: string): Promise<void>;
}

export interface Capabilities {
  /** The backend (or the service on its behalf) can hand out an upload URL. */
  presignUpload: boolean;
  /** Downloads can be redirected to a presigned GET instead of streaming through the service. */
  presignDownload: boolean;
  range: boolean;
  /** The backend has `multipart`: presigned part uploads for large direct uploads. */
  multipart: boolean;
  /**
   * Completing a multipart upload ends its part URLs: none can write to the key afterwards (S3,
   * MinIO, OSS: a part URL names the upload id; local disk: the same). So the parts can be joined
   * into the file's own key. Not Azure: a block's SAS URL can also Put Blob over the whole key.
   */
  sealedParts: boolean;
}

export interface StorageBackend {
  readonly type: string;
  readonly name: string;
  readonly capabilities: Capabilities;
  /** Present when capabilities.multipart. */
  readonly multipart?: MultipartUploads;
  put(
    key: string,
    body: Readable | Buffer,
    options: { contentType: string; size?: number },
  ): Promise<ObjectInfo>;
  /** Throws StorageError NotFound when the key does not exist. */
  get(key: string, range?: ByteRange): Promise<{ body: Readable; info: ObjectInfo }>;
  head(key: string): Promise<ObjectInfo | null>;
  /**
   * Server-side copy inside this instance: the bytes never pass through the service. The target
   * (replaced when it exists) gets the source's content type and is a snapshot: a later put to
   * the source does not change it. Returns the target's info. Throws StorageError NotFound when
   * the source does not exist.
   */
  copy(fromKey: string, toKey: string): Promise<ObjectInfo>;
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
  /**
   * The object's file on this machine, for a reader that opens files itself (libvips reads and
   * maps it directly, with no copy through memory): local disk only. Does not check that it exists.
   */
  localPath?(key: string): string;
  /** null when the backend cannot presign: the service then streams the bytes itself. */
  presignDownload(
    key: string,
    options: { expiresIn: number; disposition: string; contentType: string },
  ): Promise<string | null>;
}
