/**
 * The one catalogue of error codes. Every failure that reaches a client is an AppError with one of
 * these codes; the HTTP layer turns it into `{ "error": { "code", "message" } }` with the status.
 */
export const errorCodes = {
  // 400: the request itself is wrong
  INVALID_REQUEST: 400,
  INVALID_JSON: 400,
  PATH_REQUIRED: 400,
  PATH_TRAVERSAL: 400,
  PATH_ABSOLUTE: 400,
  PATH_CONTROL_CHARACTER: 400,
  PATH_BACKSLASH: 400,
  PATH_EMPTY_SEGMENT: 400,
  PATH_TOO_LONG: 400,
  INVALID_PATH_ENCODING: 400,
  UNKNOWN_STORAGE: 400,
  INVALID_EXPIRES: 400,
  INVALID_MD5: 400,
  MD5_MISMATCH: 400,
  /** An md5 declared for a direct upload too large to be read for it (VERIFY_READ_MAX_BYTES). */
  MD5_NOT_VERIFIABLE: 400,
  INVALID_CURSOR: 400,
  INVALID_PARTS: 400,
  INVALID_THUMBNAIL_SIZE: 400,
  INVALID_THUMBNAIL_FIT: 400,
  INVALID_THUMBNAIL_FORMAT: 400,
  INVALID_THUMBNAIL_QUALITY: 400,
  /** The local server's own answer to a request Node cannot parse (API Gateway answers those itself). */
  MALFORMED_REQUEST: 400,
  INVALID_LINK: 403,
  // auth
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  // state
  NOT_FOUND: 404,
  UPLOAD_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  ALREADY_EXISTS: 409,
  UPLOAD_INCOMPLETE: 409,
  UPLOAD_IN_PROGRESS: 409,
  UPLOAD_COMPLETED: 409,
  UPLOAD_TIMEOUT: 408,
  // size and type
  FILE_TOO_LARGE: 413,
  QUOTA_EXCEEDED: 413,
  /** A thumbnail's source above THUMBNAIL_MAX_SOURCE_BYTES. */
  IMAGE_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  /** A thumbnail of a file that is not an image this service renders (SVG included, by design). */
  UNSUPPORTED_IMAGE: 415,
  RANGE_NOT_SATISFIABLE: 416,
  // an image that is one, but that a thumbnail cannot be made of
  INVALID_IMAGE: 422,
  IMAGE_TOO_MANY_PIXELS: 422,
  IMAGE_RENDER_TIMEOUT: 422,
  /** The local server: request headers over Node's limit (16 KiB). */
  HEADERS_TOO_LARGE: 431,
  // rate: API Gateway's throttle (stage or route); the service never sends it, clients map it (shared/http/read-error.ts)
  THROTTLED: 429,
  // backend
  BACKEND_ERROR: 502,
  BACKEND_UNAVAILABLE: 503,
  SERVICE_BUSY: 503,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof errorCodes;

export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AppError';
    this.status = errorCodes[code];
  }
}

export const isAppError = (e: unknown): e is AppError => e instanceof AppError;

/** Codes a client should simply try again after a moment; their answers carry Retry-After. */
export const RETRY_AFTER_SECONDS: Partial<Record<ErrorCode, number>> = {
  SERVICE_BUSY: 1,
  BACKEND_UNAVAILABLE: 2,
  UPLOAD_IN_PROGRESS: 1,
  THROTTLED: 1,
};

/**
 * DynamoDB errors that mean "not now" rather than "never": throttling past the SDK's own retries,
 * transaction conflicts past ours, and the service's transient failures.
 */
const BUSY_DYNAMODB_ERRORS = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TransactionConflictException',
  'TransactionInProgressException',
  'InternalServerError',
  'ServiceUnavailable',
  'LimitExceededException',
]);

export function isBusyError(e: unknown): boolean {
  const err = e as { name?: string; CancellationReasons?: { Code?: string }[] } | null;
  if (!err || typeof err !== 'object') return false;
  if (err.name === 'TransactionCanceledException') {
    return (err.CancellationReasons ?? []).some((r) =>
      ['TransactionConflict', 'ThrottlingError', 'ProvisionedThroughputExceeded'].includes(r.Code ?? ''),
    );
  }
  return BUSY_DYNAMODB_ERRORS.has(err.name ?? '');
}

export const serviceBusy = (cause: unknown) =>
  new AppError('SERVICE_BUSY', 'The service is busy; please retry in a moment', undefined, { cause });

/** Errors of a storage backend, normalized so the service never sees SDK-specific shapes. */
export type StorageErrorKind =
  | 'NotFound'
  | 'AccessDenied'
  | 'InvalidCredentials'
  | 'Conflict'
  /** Completing a multipart upload named a part that is not stored, or with another etag. */
  | 'InvalidPart'
  | 'Unavailable'
  | 'Unknown';

const STORAGE_ERROR = Symbol.for('storage.StorageError');

export class StorageError extends Error {
  /**
   * Recognized by a brand, not by its class: a storage adapter is built as its own file of the
   * Lambda's asset (infra/bundling.ts lazyModules) with its own copy of this class.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && STORAGE_ERROR in value;
  }
  readonly [STORAGE_ERROR] = true;

  constructor(
    readonly kind: StorageErrorKind,
    readonly storageType: string,
    readonly instance: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${storageType} ${instance}: ${message}`, options);
    this.name = 'StorageError';
  }
}

/** How a storage failure looks to a client: never the backend's own message, which may name hosts or keys. */
export function fromStorageError(e: StorageError): AppError {
  switch (e.kind) {
    case 'NotFound':
      return new AppError('NOT_FOUND', 'File not found', undefined, { cause: e });
    case 'InvalidPart':
      return new AppError(
        'INVALID_PARTS',
        'A part is not stored, or not with the ETag given: list the parts and complete with theirs',
        undefined,
        { cause: e },
      );
    case 'Unavailable':
      return new AppError('BACKEND_UNAVAILABLE', `Storage ${e.instance} is unavailable`, undefined, {
        cause: e,
      });
    default:
      return new AppError('BACKEND_ERROR', `Storage ${e.instance} failed`, undefined, { cause: e });
  }
}
