import { PassThrough, Readable, Transform } from 'node:stream';
import { StorageError, type StorageErrorKind } from '../errors';
import type { ByteRange, PresignedUpload } from './contract';

/** Network failures that mean "the storage could not be reached", whatever the SDK. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'ConnectionTimeoutError',
  'ResponseTimeoutError',
  'RequestTimeout',
  'TimeoutError',
]);

export function isNetworkError(e: unknown): boolean {
  let current: unknown = e;
  for (let depth = 0; current && depth < 4; depth++) {
    const { code, name } = current as { code?: unknown; name?: unknown };
    if (
      (typeof code === 'string' && NETWORK_CODES.has(code)) ||
      (typeof name === 'string' && NETWORK_CODES.has(name))
    )
      return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** The kind a plain HTTP status means, for SDKs that give little more than the status. */
export function kindOfStatus(status: number | undefined): StorageErrorKind | undefined {
  if (status === undefined) return undefined;
  if (status === 404) return 'NotFound';
  if (status === 401) return 'InvalidCredentials';
  if (status === 403) return 'AccessDenied';
  if (status === 409 || status === 412) return 'Conflict';
  if (status === 429 || status === 500 || status === 502 || status === 503 || status === 504)
    return 'Unavailable';
  return undefined;
}

/** A StorageError is passed on as it is, anything else is wrapped with the kind `classify` decides. */
export function normalize(
  e: unknown,
  type: string,
  instance: string,
  action: string,
  classify: (e: unknown) => StorageErrorKind,
): StorageError {
  if (e instanceof StorageError) return e;
  const kind = isNetworkError(e) ? 'Unavailable' : classify(e);
  const code = (e as { code?: unknown; name?: unknown })?.code ?? (e as { name?: unknown })?.name;
  return new StorageError(
    kind,
    type,
    instance,
    `${action} failed (${kind}${code ? `, ${String(code)}` : ''})`,
    {
      cause: e,
    },
  );
}

export const rangeHeader = (range: ByteRange) => `bytes=${range.start}-${range.end}`;

/** First byte served, from a `Content-Range: bytes a-b/total` header. */
export function startFromContentRange(header: string | undefined | null): number | undefined {
  const m = /^bytes\s+(\d+)-\d+\//.exec(header ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * The bytes of `want` out of a body that starts at `servedStart`. A server may ignore a Range and
 * answer 200 with everything (RFC 9110 allows it), or serve more than asked (s3rver answers
 * `bytes=0-0` with the whole object): the stream handed on is exactly the range asked for.
 */
export function exactRange(body: Readable, servedStart: number | undefined, want: ByteRange): Readable {
  let skip = want.start - (servedStart ?? 0);
  let remaining = want.end - want.start + 1;
  if (skip < 0) throw new RangeError(`the server answered from byte ${servedStart}, after ${want.start}`);
  const cut = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      let part = chunk;
      if (skip > 0) {
        const n = Math.min(skip, part.length);
        skip -= n;
        part = part.subarray(n);
      }
      if (remaining <= 0 || part.length === 0) return done();
      if (part.length >= remaining) {
        this.push(part.subarray(0, remaining));
        remaining = 0;
        this.push(null);
        // Nothing more is needed: stop reading the rest of the object.
        body.unpipe(this);
        body.destroy();
        return done();
      }
      remaining -= part.length;
      done(null, part);
    },
  });
  body.on('error', (e) => cut.destroy(e));
  return body.pipe(cut);
}

/** Total size from a `Content-Range: bytes a-b/total` header. */
export function totalFromContentRange(header: string | undefined | null): number | undefined {
  const m = /\/(\d+)\s*$/.exec(header ?? '');
  return m ? Number(m[1]) : undefined;
}

/** Counts the bytes that flow through it. */
export class ByteCounter extends Transform {
  bytes = 0;
  override _transform(
    chunk: Buffer,
    _encoding: BufferEncoding,
    done: (e?: Error | null, c?: Buffer) => void,
  ) {
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

/**
 * The body as a stream that counts its bytes. Errors of the source reach the returned stream, so
 * the SDK reading it fails instead of waiting forever.
 */
export function countingStream(body: Readable | Buffer): { stream: Readable; counter: ByteCounter } {
  const counter = new ByteCounter();
  if (Buffer.isBuffer(body)) {
    counter.end(body);
    return { stream: counter, counter };
  }
  body.on('error', (e) => counter.destroy(e));
  body.pipe(counter);
  return { stream: counter, counter };
}

/** Any Node or web stream as a Node Readable. */
export function toNodeReadable(body: unknown): Readable {
  if (body instanceof Readable) return body;
  if (body && typeof (body as ReadableStream).getReader === 'function') {
    return Readable.fromWeb(body as import('node:stream/web').ReadableStream);
  }
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) return Readable.from([Buffer.from(body)]);
  const empty = new PassThrough();
  empty.end();
  return empty;
}

/** Runs `fn` over `items` with at most `limit` at a time. */
export async function forEachLimit<T>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export const expiresAt = (expiresIn: number, now = Date.now()) =>
  new Date(now + expiresIn * 1000).toISOString();

/** Upload instructions for a signed PUT: the client sends the bytes with exactly this content type. */
export function signedPut(url: string, contentType: string, expiresIn: number, now: number): PresignedUpload {
  return {
    method: 'PUT',
    url,
    headers: { 'content-type': contentType },
    expiresAt: expiresAt(expiresIn, now),
  };
}

/** The largest object one S3 CopyObject copies (MinIO's too); larger ones need UploadPartCopy. */
export const MAX_COPY_BYTES = 5 * 1024 ** 3;

/** Said before a copy that the server would refuse with an obscure error. */
export const tooLargeToCopy = (type: string, instance: string, size: number) =>
  new StorageError(
    'Unknown',
    type,
    instance,
    `copy of ${size} bytes is not supported: one server-side copy takes at most 5 GiB`,
  );
