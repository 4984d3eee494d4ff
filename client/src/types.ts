/**
 * The shapes the HTTP API answers with (README: "Walkthrough with curl"), as the SDK returns them.
 * Written by hand rather than imported from the service, whose modules must not reach a browser.
 */

export type Visibility = 'private' | 'public';
/** What an upload does when the path is taken: replace the file, fail (409), or pick a new name. */
export type OnConflict = 'overwrite' | 'rename' | 'fail';

/** A file record in the platform's attachment format (GET /v1/meta, uploads, listings). */
export interface Attachment {
  id: string;
  /** Absent for a large multipart upload sent without one (the service never read it whole). */
  md5?: string;
  uid: string;
  /** The file's download URL on the API (it needs a token). */
  url: string;
  name: string;
  size: number;
  type: string;
  /** ISO time the file expires, or null. */
  expires: string | null;
  fileName: string;
  /** The path inside the tenant. */
  fullName: string;
  uploadTime: string;
  uploadUser: string;
  updateUserId: string;
  storeFullName: string;
  retentionPeriod: number | null;
  storage: string;
  sha256?: string;
  status: 'READY';
  visibility: Visibility;
}

/** One page of GET /v1/objects; `cursor` is null on the last page. */
export interface ListPage {
  items: Attachment[];
  /** With `delimiter`: the sub-folders of the level, each a prefix ending with "/". */
  prefixes?: string[];
  cursor: string | null;
}

/** The tenant's counters (GET /v1/usage). */
export interface Usage {
  tenant: string;
  limitBytes: number;
  usedBytes: number;
  reservedBytes: number;
  fileCount: number;
}

/** A signed, expiring link (POST /v1/links): opens the file (or a thumbnail of it) without a token. */
export interface Link {
  url: string;
  expiresAt: string;
}

/** One request the client sends straight to the storage. */
export interface PresignedRequest {
  method: 'PUT' | 'POST';
  url: string;
  /** Headers to send exactly as given (a signed content-type, for one). */
  headers: Record<string, string>;
  /** Form fields of a POST-policy upload, sent before the file. */
  fields?: Record<string, string>;
  expiresAt: string;
}

/** getSignUrl's answer: one presigned request for the whole file, or a plan of parts. */
export type SignedUpload =
  | ({ uploadId: string; path: string; mode: 'single' } & PresignedRequest)
  | { uploadId: string; path: string; mode: 'multipart'; partSize: number; parts: number; expiresAt: string };

export interface SignedPart extends PresignedRequest {
  partNumber: number;
}

/** A part the storage holds already (what a resumed upload need not send again). */
export interface StoredPart {
  partNumber: number;
  size: number;
  etag: string;
}

/** GET /v1/uploads/{id}/parts. */
export interface UploadParts {
  uploadId: string;
  partSize: number;
  parts: number;
  uploaded: StoredPart[];
}

/** A part as complete wants it: its number and the ETag its PUT answered (when readable). */
export interface CompletedPart {
  partNumber: number;
  etag?: string;
}

interface UploadStatusBase {
  uploadId: string;
  path: string;
  storage: string;
  mode: 'single' | 'multipart';
  /** The declared size. */
  size: number;
  partSize?: number;
  parts?: number;
}

/** GET /v1/uploads/{id}: waiting for bytes, being verified, done (with the file) or refused. */
export type UploadStatus = UploadStatusBase &
  (
    | { status: 'PENDING' | 'VERIFYING'; expiresAt: string }
    | { status: 'READY'; file: Attachment }
    | { status: 'FAILED'; error?: { code: string; message: string } }
  );

export type ThumbnailFit = 'cover' | 'contain' | 'fill' | 'inside';
export type ThumbnailFormat = 'auto' | 'webp' | 'avif' | 'jpeg' | 'png' | 'origin';

/** Thumbnail parameters; the service's defaults (120 x 120, cover, auto, 80) for those left out. */
export interface ThumbnailOptions {
  width?: number;
  height?: number;
  fit?: ThumbnailFit;
  format?: ThumbnailFormat;
  quality?: number;
}
