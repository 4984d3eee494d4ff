import { type ErrorCode, errorCodes } from './error-codes.js';
import { isErrorCode, isStorageApiError, StorageApiError } from './errors.js';
import { encodePath, type Transport } from './http.js';
import { abortReason, linkedController, sleep, throwIfAborted } from './signals.js';
import type {
  Attachment,
  CompletedPart,
  OnConflict,
  PresignedRequest,
  SignedPart,
  SignedUpload,
  StoredPart,
  UploadParts,
  UploadStatus,
  Visibility,
} from './types.js';

/** What can be uploaded. In Node a large file is a Blob too: `await fs.openAsBlob(path)`. */
export type UploadData = Blob | ArrayBuffer | ArrayBufferView | string;

export interface UploadProgress {
  /** Bytes the storage has acknowledged so far (whole requests: the API body, or each part). */
  loaded: number;
  total: number;
}

export interface UploadOptions {
  /** The md5 (32 hex) of the bytes: the service refuses other bytes (400 MD5_MISMATCH) and dedupes on it. */
  md5?: string;
  /** The media type; else the Blob's own `type`; else the service's application/octet-stream. */
  contentType?: string;
  /** Seconds until the file expires (1 s to 10 years). */
  expires?: number;
  visibility?: Visibility;
  onConflict?: OnConflict;
  /** Called as bytes are acknowledged, never with less than before, and with loaded = total at the end. */
  onProgress?: (progress: UploadProgress) => void;
  /** Aborts the requests in flight, then the direct upload on the service (its reservation goes back). */
  signal?: AbortSignal;
  /** Send the bytes straight to the storage (a direct upload) even when they are small. */
  direct?: boolean;
  /** Ask for a multipart plan at any size (a direct upload); otherwise the service decides by its threshold. */
  multipart?: boolean;
  /** Resume the multipart upload with this id (from onUploadId): only the parts the storage lacks are sent. */
  resume?: string;
  /**
   * The id of the direct upload, as soon as there is one: keep it to resume after a crash. With
   * it (or `resume`), a multipart upload that fails is kept for a resume instead of being aborted.
   */
  onUploadId?: (uploadId: string) => void;
  /** Parts sent at once (default: the client's, 4). */
  partConcurrency?: number;
  /** Tries per part (and per one-request direct upload), with backoff (default: the client's, 3). */
  partAttempts?: number;
}

/** Client-wide upload settings (StorageClientOptions). */
export interface UploadSettings {
  apiUploadMaxBytes: number;
  partConcurrency: number;
  partAttempts: number;
  retryDelayMs: number;
  pollIntervalMs: number;
}

/** Parts signed per call: the API takes at most 100. */
const SIGN_BATCH = 100;
/** A part URL with less time left than this may expire on its way: it is signed again first. */
const URL_MARGIN_MS = 30_000;
/** Headers fetch may not set (browsers drop them silently, Node's fetch refuses some). */
const FORBIDDEN_HEADERS = new Set(['content-length', 'host', 'connection', 'expect', 'transfer-encoding']);

export function toBlob(data: UploadData, type?: string): Blob {
  if (data instanceof Blob) return data;
  const options = type ? { type } : {};
  if (typeof data === 'string' || data instanceof ArrayBuffer) return new Blob([data], options);
  // One copy into a Blob; every part is then a slice of it, which copies nothing. (A view of a
  // SharedArrayBuffer is refused by Blob at runtime, as by fetch.)
  return new Blob(
    [new Uint8Array(data.buffer, data.byteOffset, data.byteLength) as Uint8Array<ArrayBuffer>],
    options,
  );
}

const sendable = (headers: Record<string, string>) =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => !FORBIDDEN_HEADERS.has(name.toLowerCase())));

/** Reads an answer to its end, so its connection can serve the next request. */
const drain = async (response: Response) => {
  await response.arrayBuffer().catch(() => undefined);
};

const uploadRoute = (uploadId: string, rest = '') => `/v1/uploads/${encodeURIComponent(uploadId)}${rest}`;

/** An error the retry loop must not retry (a refusal of the API, not a hiccup of the network). */
class Permanent {
  constructor(readonly error: unknown) {}
}

/** Worth another try: a network failure, a 5xx, a timeout or throttling; not the API's refusals. */
const transient = (e: unknown) =>
  !isStorageApiError(e) || e.status >= 500 || e.status === 408 || e.status === 429;

/** uploadByFile: through the API when small, else a direct upload (one request, or parts). */
export async function uploadByFile(
  t: Transport,
  settings: UploadSettings,
  path: string,
  data: UploadData,
  options: UploadOptions = {},
): Promise<Attachment> {
  const blob = toBlob(data, options.contentType);
  const contentType = options.contentType ?? (blob.type || undefined);
  const progress = progressReporter(blob.size, options.onProgress);
  const direct =
    options.direct === true ||
    options.multipart === true ||
    options.resume !== undefined ||
    blob.size > settings.apiUploadMaxBytes;
  if (direct) return new DirectUpload(t, settings, path, blob, contentType, options, progress).run();

  throwIfAborted(options.signal);
  progress(0);
  const response = await t.call('PUT', `/v1/objects/${encodePath(path)}`, {
    query: {
      md5: options.md5,
      expires: options.expires,
      visibility: options.visibility,
      onConflict: options.onConflict,
    },
    headers: contentType ? { 'content-type': contentType } : {},
    body: blob,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const file = (await response.json()) as Attachment;
  progress(blob.size);
  return file;
}

/** Reports progress in order only: never less than before (parallel parts finish in any order). */
function progressReporter(total: number, onProgress: UploadOptions['onProgress']) {
  let last = -1;
  return (loaded: number) => {
    if (!onProgress || loaded <= last) return;
    last = loaded;
    onProgress({ loaded, total });
  };
}

/** The error of an upload the service refused (FAILED), as the complete that failed would have thrown it. */
function failedError(error: { code: string; message: string } | undefined): StorageApiError {
  const code = (
    error && isErrorCode(error.code) ? error.code : (error?.code ?? 'UPLOAD_NOT_FOUND')
  ) as ErrorCode;
  return new StorageApiError({
    status: (errorCodes as Record<string, number>)[code] ?? 400,
    code,
    message: error?.message ?? 'The upload was refused',
    source: 'service',
  });
}

/**
 * POST /v1/uploads/{id}/complete, then (202: verified asynchronously) GET /v1/uploads/{id} until
 * READY or FAILED. Complete is idempotent, so answers that say "retry" (another finalize running,
 * a busy service) are simply asked again.
 */
export async function completeUpload(
  t: Transport,
  settings: UploadSettings,
  uploadId: string,
  parts: CompletedPart[] | undefined,
  signal?: AbortSignal,
): Promise<Attachment> {
  for (let attempt = 1; ; attempt++) {
    try {
      const response = await t.call('POST', uploadRoute(uploadId, '/complete'), {
        ...(parts ? { json: { parts } } : {}),
        ...(signal ? { signal } : {}),
      });
      if (response.status !== 202) return (await response.json()) as Attachment;
      await drain(response);
      return await waitReady(t, settings, uploadId, signal);
    } catch (e) {
      if (!isStorageApiError(e) || e.retryAfterSeconds === undefined || attempt >= 5) throw e;
      await sleep(e.retryAfterSeconds * 1000, signal);
    }
  }
}

async function waitReady(
  t: Transport,
  settings: UploadSettings,
  uploadId: string,
  signal?: AbortSignal,
): Promise<Attachment> {
  for (let delay = settings.pollIntervalMs; ; delay = Math.min(delay * 1.5, 5_000)) {
    await sleep(delay, signal);
    const status = await t.json<UploadStatus>('GET', uploadRoute(uploadId), signal ? { signal } : {});
    if (status.status === 'READY') return status.file;
    if (status.status === 'FAILED') throw failedError(status.error);
  }
}

/**
 * Signs part URLs in batches of up to 100, as workers need them: the part asked for and the next
 * unsigned ones of the queue. One signing call at a time; a URL about to expire is signed again.
 */
class PartSigner {
  private readonly signed = new Map<number, { part: SignedPart; expiresAt: number }>();
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly t: Transport,
    private readonly uploadId: string,
    /** Parts not started yet, in order. */
    private readonly queue: readonly number[],
  ) {}

  forget(partNumber: number) {
    this.signed.delete(partNumber);
  }

  async get(partNumber: number, signal: AbortSignal): Promise<SignedPart> {
    for (let round = 0; ; round++) {
      const s = this.signed.get(partNumber);
      // After two signing rounds the URL is what the service gives (it never outlives the upload).
      if (s && (s.expiresAt - Date.now() > URL_MARGIN_MS || round >= 2)) return s.part;
      this.inFlight ??= this.sign(partNumber, signal).finally(() => {
        this.inFlight = undefined;
      });
      await this.inFlight;
    }
  }

  private fresh(partNumber: number) {
    const s = this.signed.get(partNumber);
    return s !== undefined && s.expiresAt - Date.now() > URL_MARGIN_MS;
  }

  private async sign(first: number, signal: AbortSignal) {
    const batch = [first, ...this.queue.filter((n) => n !== first && !this.fresh(n))].slice(0, SIGN_BATCH);
    const answer = await this.t.json<{ parts: SignedPart[]; expiresAt: string }>(
      'POST',
      uploadRoute(this.uploadId, '/parts'),
      { json: { parts: batch }, signal },
    );
    const expiresAt = Date.parse(answer.expiresAt);
    for (const part of answer.parts) this.signed.set(part.partNumber, { part, expiresAt });
  }
}

/** A direct upload: instructions from the service, bytes straight to the storage, then complete. */
class DirectUpload {
  private readonly total: number;

  constructor(
    private readonly t: Transport,
    private readonly settings: UploadSettings,
    private readonly path: string,
    private readonly blob: Blob,
    private readonly contentType: string | undefined,
    private readonly options: UploadOptions,
    private readonly progress: (loaded: number) => void,
  ) {
    this.total = blob.size;
  }

  async run(): Promise<Attachment> {
    const { controller, dispose } = linkedController(this.options.signal);
    const signal = controller.signal;
    let uploadId = this.options.resume;
    // A failed upload is kept when its caller can resume it: it has the id and there are parts to keep.
    let keepOnFailure = uploadId !== undefined;
    try {
      throwIfAborted(signal);
      if (uploadId !== undefined) return await this.resume(uploadId, controller);
      // Not cancelled midway: the service may already hold the reservation, whose id only its
      // answer tells. An abort meanwhile is seen right after, and ends the upload on the service.
      const signed = await this.t.json<SignedUpload>('POST', '/v1/uploads', {
        json: {
          path: this.path,
          size: this.total,
          ...(this.contentType ? { contentType: this.contentType } : {}),
          md5: this.options.md5,
          expires: this.options.expires,
          visibility: this.options.visibility,
          onConflict: this.options.onConflict,
          multipart: this.options.multipart,
        },
      });
      uploadId = signed.uploadId;
      this.options.onUploadId?.(uploadId);
      throwIfAborted(signal);
      this.progress(0);
      if (signed.mode === 'single') {
        await this.sendSingle(signed, signal);
        return await completeUpload(this.t, this.settings, uploadId, undefined, signal);
      }
      keepOnFailure = this.options.onUploadId !== undefined;
      return await this.sendParts(uploadId, signed.partSize, signed.parts, [], controller);
    } catch (e) {
      const aborted = this.options.signal?.aborted === true;
      if (uploadId !== undefined && (aborted || !keepOnFailure)) await this.abortQuietly(uploadId);
      throw aborted ? abortReason(this.options.signal as AbortSignal) : e;
    } finally {
      dispose();
    }
  }

  private async abortQuietly(uploadId: string) {
    // Without the caller's (aborted) signal; a failure here leaves the upload to the sweeper.
    await this.t
      .call('DELETE', uploadRoute(uploadId))
      .then(drain)
      .catch(() => undefined);
  }

  private async resume(uploadId: string, controller: AbortController): Promise<Attachment> {
    const signal = controller.signal;
    const status = await this.t.json<UploadStatus>('GET', uploadRoute(uploadId), { signal });
    if (status.status === 'FAILED') throw failedError(status.error);
    // A completed upload has given its reservation back: its size is its file's.
    const size = status.status === 'READY' ? status.file.size : status.size;
    if (size !== this.total || status.path !== this.path.normalize('NFC')) {
      throw new Error(
        `Upload ${uploadId} is of ${size} bytes to ${status.path}, not of ${this.total} bytes to ${this.path}`,
      );
    }
    if (status.status === 'READY') {
      this.progress(this.total);
      return status.file;
    }
    if (status.status === 'VERIFYING') {
      this.progress(this.total);
      return waitReady(this.t, this.settings, uploadId, signal);
    }
    if (status.mode !== 'multipart') {
      throw new Error(`Upload ${uploadId} is sent in one request, which cannot resume: start a new upload`);
    }
    const listed = await this.t.json<UploadParts>('GET', uploadRoute(uploadId, '/parts'), { signal });
    return this.sendParts(uploadId, listed.partSize, listed.parts, listed.uploaded, controller);
  }

  private async sendSingle(signed: PresignedRequest, signal: AbortSignal) {
    await this.withRetries(signal, async () => {
      let init: RequestInit;
      if (signed.method === 'POST') {
        // A POST policy: the fields first, the file last (S3 ignores anything after it).
        const form = new FormData();
        for (const [name, value] of Object.entries(signed.fields ?? {})) form.append(name, value);
        const type = signed.fields?.['Content-Type'] ?? this.contentType ?? 'application/octet-stream';
        form.append('file', new Blob([this.blob], { type }), this.path.split('/').pop() || 'file');
        init = { method: 'POST', body: form };
      } else {
        init = { method: signed.method, headers: sendable(signed.headers), body: this.blob };
      }
      await drain(await this.t.storage(signed.url, { ...init, signal }));
    });
    this.progress(this.total);
  }

  private async sendParts(
    uploadId: string,
    partSize: number,
    parts: number,
    uploaded: StoredPart[],
    controller: AbortController,
  ): Promise<Attachment> {
    const signal = controller.signal;
    const sizeOf = (n: number) => Math.max(0, Math.min(partSize, this.total - (n - 1) * partSize));
    const done = new Map<number, string | undefined>();
    // The storage's list is the truth; a part counts only if it is there whole.
    for (const p of uploaded) {
      if (p.partNumber >= 1 && p.partNumber <= parts && p.size === sizeOf(p.partNumber)) {
        done.set(p.partNumber, p.etag);
      }
    }
    let loaded = 0;
    for (const n of done.keys()) loaded += sizeOf(n);
    this.progress(loaded);

    const queue: number[] = [];
    for (let n = 1; n <= parts; n++) if (!done.has(n)) queue.push(n);
    const signer = new PartSigner(this.t, uploadId, queue);
    let failure: { error: unknown } | undefined;
    const worker = async () => {
      for (let n = queue.shift(); n !== undefined; n = queue.shift()) {
        const start = (n - 1) * partSize;
        const etag = await this.sendPart(signer, n, this.blob.slice(start, start + sizeOf(n)), signal);
        done.set(n, etag);
        loaded += sizeOf(n);
        this.progress(loaded);
      }
    };
    const concurrency = Math.max(
      1,
      Math.min(this.options.partConcurrency ?? this.settings.partConcurrency, queue.length),
    );
    await Promise.all(
      Array.from({ length: concurrency }, () =>
        worker().catch((error: unknown) => {
          // The first part that fails for good stops the others (their requests are aborted).
          if (!failure) {
            failure = { error };
            controller.abort(error);
          }
        }),
      ),
    );
    if (failure) throw failure.error;

    const list: CompletedPart[] = [];
    for (let n = 1; n <= parts; n++) {
      const etag = done.get(n);
      list.push(etag ? { partNumber: n, etag } : { partNumber: n });
    }
    const file = await completeUpload(this.t, this.settings, uploadId, list, signal);
    this.progress(this.total);
    return file;
  }

  /** PUTs one part to its signed URL; resolves with the ETag the storage answered (if readable). */
  private sendPart(signer: PartSigner, n: number, body: Blob, signal: AbortSignal) {
    return this.withRetries(signal, async () => {
      let signed: SignedPart;
      try {
        signed = await signer.get(n, signal);
      } catch (e) {
        throw transient(e) ? e : new Permanent(e);
      }
      try {
        const response = await this.t.storage(signed.url, {
          method: signed.method,
          headers: sendable(signed.headers),
          body,
          signal,
        });
        // Cross-origin in a browser, the ETag is readable only where the bucket's CORS exposes it;
        // complete accepts a part without one.
        const etag = response.headers.get('etag') ?? undefined;
        await drain(response);
        signer.forget(n);
        return etag;
      } catch (e) {
        // 403: the URL expired on the way (or its signature no longer holds): the next try signs it again.
        if (isStorageApiError(e) && e.status === 403) signer.forget(n);
        throw e;
      }
    });
  }

  /** Runs `send` up to partAttempts times, with exponential backoff and jitter between tries. */
  private async withRetries<T>(signal: AbortSignal, send: () => Promise<T>): Promise<T> {
    const attempts = Math.max(1, this.options.partAttempts ?? this.settings.partAttempts);
    for (let attempt = 1; ; attempt++) {
      throwIfAborted(signal);
      try {
        return await send();
      } catch (e) {
        if (signal.aborted) throw abortReason(signal);
        if (e instanceof Permanent) throw e.error;
        if (attempt >= attempts) throw e;
        const pause = this.settings.retryDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random());
        const asked =
          isStorageApiError(e) && e.retryAfterSeconds !== undefined ? e.retryAfterSeconds * 1000 : 0;
        await sleep(Math.max(pause, asked), signal);
      }
    }
  }
}
