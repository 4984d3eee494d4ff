import { type ErrorCode, errorCodes, RETRY_AFTER_SECONDS } from './error-codes.js';

/**
 * Who answered with the error: the service's own JSON (`{"error":{"code","message"}}`), API
 * Gateway (or another proxy) in front of it (`{"message":"..."}` or no JSON at all), or the
 * storage itself, at a presigned URL the service handed out (a part, a direct upload, a download
 * after the 302).
 */
export type ErrorSource = 'service' | 'gateway' | 'storage';

/**
 * Every failed answer of the API as one class. `code` is one of the service's codes
 * (shared/errors.ts), also for answers the service never saw: API Gateway's 401/403/429/413/504
 * are given the service's code for what they mean, as the service's own tooling does
 * (shared/http/read-error.ts), so a caller handles "Unauthorized" the same way wherever it came from.
 */
export class StorageApiError extends Error {
  override readonly name = 'StorageApiError';
  readonly status: number;
  /** A code of the service's catalogue; a newer service may send a code this SDK does not know yet. */
  readonly code: ErrorCode;
  readonly source: ErrorSource;
  /** Seconds to wait before trying again: the answer's Retry-After, or the code's usual pause. */
  readonly retryAfterSeconds?: number;

  constructor(init: {
    status: number;
    code: ErrorCode;
    message: string;
    source: ErrorSource;
    retryAfterSeconds?: number;
  }) {
    super(init.message);
    this.status = init.status;
    this.code = init.code;
    this.source = init.source;
    if (init.retryAfterSeconds !== undefined) this.retryAfterSeconds = init.retryAfterSeconds;
  }
}

export const isStorageApiError = (e: unknown): e is StorageApiError => e instanceof StorageApiError;

export const isErrorCode = (value: unknown): value is ErrorCode =>
  typeof value === 'string' && Object.hasOwn(errorCodes, value);

/** The service's code for what a status means when the answer is not the service's own JSON. */
export function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
      return 'INVALID_REQUEST';
    case 401:
      return 'UNAUTHORIZED';
    case 403:
      return 'FORBIDDEN';
    case 404:
      return 'NOT_FOUND';
    case 405:
      return 'METHOD_NOT_ALLOWED';
    case 413:
      return 'FILE_TOO_LARGE';
    case 416:
      return 'RANGE_NOT_SATISFIABLE';
    case 429:
      return 'THROTTLED';
    case 431:
      return 'HEADERS_TOO_LARGE';
    // API Gateway's integration timeout and its own unavailability: try again later.
    case 503:
    case 504:
      return 'SERVICE_BUSY';
    default:
      return status >= 500 ? 'INTERNAL' : 'INVALID_REQUEST';
  }
}

/**
 * Reads a failed answer (the body is consumed). `storage`: the answer came from a presigned URL
 * rather than the API, so an answer without the service's JSON is the storage's (S3's XML, ...).
 */
export async function errorFromResponse(response: Response, storage = false): Promise<StorageApiError> {
  let text = '';
  try {
    text = await response.text();
  } catch {
    // a body cut off: the status still says what happened
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const status = response.status;
  const error = field(body, 'error');
  const serviceCode = field(error, 'code');
  const message = field(error, 'message');
  const fromService = typeof serviceCode === 'string';
  const code = fromService ? (serviceCode as ErrorCode) : codeForStatus(status);
  const retryAfter = response.headers.get('retry-after');
  // API Gateway's 429 carries no Retry-After: the code's usual pause stands in for it.
  const retryAfterSeconds =
    retryAfter && /^\d+$/.test(retryAfter) ? Number(retryAfter) : RETRY_AFTER_SECONDS[code];
  const gatewayMessage = field(body, 'message');
  return new StorageApiError({
    status,
    code,
    message: fromService
      ? typeof message === 'string'
        ? message
        : String(serviceCode)
      : typeof gatewayMessage === 'string'
        ? gatewayMessage
        : `HTTP ${status}${text && !text.startsWith('<') ? `: ${text.slice(0, 200)}` : ''}`,
    source: fromService ? 'service' : storage ? 'storage' : 'gateway',
    ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
  });
}

const field = (value: unknown, name: string): unknown =>
  typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : undefined;
