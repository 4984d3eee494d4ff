import { encodePath, type FetchLike, Transport } from './http.js';
import type {
  Attachment,
  CompletedPart,
  Link,
  ListPage,
  OnConflict,
  SignedPart,
  SignedUpload,
  ThumbnailOptions,
  UploadParts,
  UploadStatus,
  Usage,
  Visibility,
} from './types.js';
import {
  completeUpload,
  type UploadData,
  type UploadOptions,
  type UploadSettings,
  uploadByFile,
} from './upload.js';

const MiB = 1024 * 1024;

export interface StorageClientOptions {
  /** The API's base URL, e.g. `http://localhost:3000` or the HTTP API's invoke URL. */
  baseUrl: string;
  /** A bearer token (a JWT with the tenant claim and the storage scopes). */
  token?: string;
  /** Called before every request instead of `token`: return a fresh token (it may be async). */
  getToken?: () => string | Promise<string>;
  /** The storage instance (`storages.Name`) for every call; the service's default otherwise. */
  storage?: string;
  /** The fetch to use (default: the global one); e.g. to add logging, or a polyfill. */
  fetch?: FetchLike;
  /**
   * Bodies up to this size go through the API (`PUT /v1/objects/...`), larger ones straight to the
   * storage. Default 4 MiB, under API Gateway's 4.5 MiB `MAX_API_UPLOAD_BYTES` in AWS.
   */
  apiUploadMaxBytes?: number;
  /** Parts of a multipart upload sent at once. Default 4. */
  partConcurrency?: number;
  /** Tries per part, with exponential backoff. Default 3. */
  partAttempts?: number;
  /** First pause between tries of a part, doubled each time (with jitter). Default 500 ms. */
  retryDelayMs?: number;
  /** First pause between polls of an upload being verified (202 VERIFYING). Default 1000 ms. */
  pollIntervalMs?: number;
}

export interface SignUrlOptions {
  /** The exact size in bytes (reserved against the quota until the upload completes or is aborted). */
  size: number;
  contentType?: string;
  md5?: string;
  expires?: number;
  visibility?: Visibility;
  onConflict?: OnConflict;
  /** true: a multipart plan at any size; false: one request; absent: the service decides by size. */
  multipart?: boolean;
  signal?: AbortSignal;
}

export interface DownloadOptions {
  /** Bytes `start` to `end` (inclusive), or to the end of the file. */
  range?: { start: number; end?: number };
  signal?: AbortSignal;
}

export interface LinkOptions {
  /** `inline` (default: shown in the browser where it is safe) or `attachment` (downloaded). */
  disposition?: 'inline' | 'attachment';
  /** Seconds the link works (the service's PRESIGN_TTL_SECONDS, 300, by default). */
  expiresIn?: number;
  /** A link to a thumbnail with exactly these parameters, instead of the file. */
  thumbnail?: ThumbnailOptions;
  signal?: AbortSignal;
}

export interface ListOptions {
  /** Only paths starting with this (e.g. `docs/`). */
  prefix?: string;
  /** '/': a folder listing, the files right under `prefix` and its sub-folders (`prefixes`). */
  delimiter?: '/';
  /** Files per page, 1 to 1000 (default 100). */
  limit?: number;
  /** Start after the page this cursor was handed out with. */
  cursor?: string;
  signal?: AbortSignal;
}

const withSignal = (signal: AbortSignal | undefined) => (signal ? { signal } : {});

/**
 * The storage service's API in TypeScript: the platform's method names, fetch underneath (Node 20+
 * and browsers), no dependency. Every failed answer throws StorageApiError.
 */
export class StorageClient {
  private readonly t: Transport;
  private readonly settings: UploadSettings;

  constructor(options: StorageClientOptions) {
    this.t = new Transport(options);
    this.settings = {
      apiUploadMaxBytes: options.apiUploadMaxBytes ?? 4 * MiB,
      partConcurrency: options.partConcurrency ?? 4,
      partAttempts: options.partAttempts ?? 3,
      retryDelayMs: options.retryDelayMs ?? 500,
      pollIntervalMs: options.pollIntervalMs ?? 1000,
    };
  }

  /**
   * Uploads a file to `path`: through the API up to `apiUploadMaxBytes`; above it as a direct
   * upload straight to the storage (one request, or parallel parts when the service answers a
   * multipart plan, with retries and resume). Resolves with the stored file's record.
   */
  uploadByFile(path: string, data: UploadData, options?: UploadOptions): Promise<Attachment> {
    return uploadByFile(this.t, this.settings, path, data, options);
  }

  /** The file's bytes; a redirect to a presigned GET (cloud storages) is followed. */
  download(path: string, options?: DownloadOptions & { stream?: false }): Promise<Uint8Array>;
  /** The file as a stream of bytes (the answer's body), for files too large to hold. */
  download(path: string, options: DownloadOptions & { stream: true }): Promise<ReadableStream<Uint8Array>>;
  async download(
    path: string,
    options: DownloadOptions & { stream?: boolean } = {},
  ): Promise<Uint8Array | ReadableStream<Uint8Array>> {
    const { range } = options;
    const response = await this.t.call('GET', `/v1/objects/${encodePath(path)}`, {
      headers: range ? { range: `bytes=${range.start}-${range.end ?? ''}` } : {},
      ...withSignal(options.signal),
    });
    if (!options.stream) return new Uint8Array(await response.arrayBuffer());
    return (
      response.body ??
      new ReadableStream<Uint8Array>({
        start: (controller) => controller.close(),
      })
    );
  }

  /** A signed, expiring URL that shows the file inline (private files included), for `<img>`, `<iframe>`, a tab. */
  async preview(path: string, options: Omit<LinkOptions, 'thumbnail' | 'disposition'> = {}): Promise<Link> {
    return this.createLink(path, { ...options, disposition: 'inline' });
  }

  /** A signed, expiring URL of a thumbnail of an image (120 x 120 WebP/JPEG by default). */
  async previewThumbnail(
    path: string,
    thumbnail: ThumbnailOptions = {},
    options: Omit<LinkOptions, 'thumbnail' | 'disposition'> = {},
  ): Promise<Link> {
    return this.createLink(path, { ...options, thumbnail });
  }

  /** POST /v1/links: a signed, expiring link to a file (or to one thumbnail of it). */
  createLink(path: string, options: LinkOptions = {}): Promise<Link> {
    const { signal, ...body } = options;
    return this.t.json<Link>('POST', '/v1/links', { json: { path, ...body }, ...withSignal(signal) });
  }

  /**
   * POST /v1/uploads: instructions to send a file straight to the storage (getSignUrl). The size
   * is reserved until completeUpload or abortUpload; uploadByFile does all of it for you.
   */
  getSignUrl(path: string, options: SignUrlOptions): Promise<SignedUpload> {
    const { signal, ...body } = options;
    return this.t.json<SignedUpload>('POST', '/v1/uploads', {
      json: { path, ...body },
      ...withSignal(signal),
    });
  }

  /** Signs PUT URLs for parts of a multipart upload (at most 100 per call). */
  async signParts(uploadId: string, partNumbers: number[], signal?: AbortSignal): Promise<SignedPart[]> {
    const answer = await this.t.json<{ parts: SignedPart[] }>(
      'POST',
      `/v1/uploads/${encodeURIComponent(uploadId)}/parts`,
      { json: { parts: partNumbers }, ...withSignal(signal) },
    );
    return answer.parts;
  }

  /** The plan of a multipart upload and the parts the storage holds already. */
  listParts(uploadId: string, signal?: AbortSignal): Promise<UploadParts> {
    return this.t.json<UploadParts>(
      'GET',
      `/v1/uploads/${encodeURIComponent(uploadId)}/parts`,
      withSignal(signal),
    );
  }

  /** Finalizes a direct upload (multipart: with its parts); waits while the service verifies it. */
  completeUpload(uploadId: string, parts?: CompletedPart[], signal?: AbortSignal): Promise<Attachment> {
    return completeUpload(this.t, this.settings, uploadId, parts, signal);
  }

  /** A direct upload's state: PENDING, VERIFYING, READY (with the file) or FAILED (with the code). */
  getUpload(uploadId: string, signal?: AbortSignal): Promise<UploadStatus> {
    return this.t.json<UploadStatus>(
      'GET',
      `/v1/uploads/${encodeURIComponent(uploadId)}`,
      withSignal(signal),
    );
  }

  /** Aborts a direct upload: its reservation and parts go (idempotent). */
  async abortUpload(uploadId: string, signal?: AbortSignal): Promise<void> {
    await this.t.call('DELETE', `/v1/uploads/${encodeURIComponent(uploadId)}`, withSignal(signal));
  }

  /** Deletes the file; succeeds also when there is none. */
  async delete(path: string, signal?: AbortSignal): Promise<void> {
    await this.t.call('DELETE', `/v1/objects/${encodePath(path)}`, withSignal(signal));
  }

  /** The file's record (GET /v1/meta). */
  getObject(path: string, signal?: AbortSignal): Promise<Attachment> {
    return this.t.json<Attachment>('GET', `/v1/meta/${encodePath(path)}`, withSignal(signal));
  }

  /** The tenant's files in path order, page by page: `for await (const page of client.list({prefix}))`. */
  async *list(options: ListOptions = {}): AsyncGenerator<ListPage, void, undefined> {
    let cursor = options.cursor;
    do {
      const page: ListPage = await this.t.json<ListPage>('GET', '/v1/objects', {
        query: { prefix: options.prefix, delimiter: options.delimiter, limit: options.limit, cursor },
        ...withSignal(options.signal),
      });
      yield page;
      cursor = page.cursor ?? undefined;
    } while (cursor !== undefined);
  }

  /** The tenant's counters: limitBytes, usedBytes, reservedBytes, fileCount. */
  usage(signal?: AbortSignal): Promise<Usage> {
    return this.t.json<Usage>('GET', '/v1/usage', withSignal(signal));
  }
}
