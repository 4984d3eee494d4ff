// One mapping of statuses to codes, the SDK's: the service's own tools read answers as its users do.
import { codeForStatus } from '../../client/src/errors';
import { type ErrorCode, RETRY_AFTER_SECONDS } from '../errors';

/**
 * How a client of this service reads an error answer. The service answers
 * `{"error":{"code","message"}}`; in AWS, API Gateway answers some requests itself, before any
 * function runs, as `{"message":"..."}` (the JWT authorizer's 401, throttling's 429, a body over
 * its limit, an integration timeout; docs/deploy.md lists them). Both become one `{code, message}`,
 * so a client handles "Unauthorized" the same way wherever it came from.
 */
export interface ApiErrorAnswer {
  status: number;
  /** A code of shared/errors.ts (or a newer one the service sent). */
  code: string;
  message: string;
  /** Who answered: the service's own JSON, or API Gateway (or anything else in front of it). */
  source: 'service' | 'gateway';
  /** Seconds to wait before trying again, from Retry-After, when the answer carries it. */
  retryAfterSeconds?: number;
}

export function readApiError(
  status: number,
  bodyText: string,
  headers?: { get(name: string): string | null } | Record<string, string | string[] | undefined>,
): ApiErrorAnswer {
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    body = undefined;
  }
  const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const answer: ApiErrorAnswer =
    error && typeof error.code === 'string'
      ? {
          status,
          code: error.code,
          message: typeof error.message === 'string' ? error.message : error.code,
          source: 'service',
        }
      : {
          status,
          code: codeForStatus(status),
          message: stringField(body, 'message') ?? `HTTP ${status}`,
          source: 'gateway',
        };
  // API Gateway's 429 carries no Retry-After: the code's usual pause stands in for it.
  const retryAfter = headerOf(headers, 'retry-after');
  const retryAfterSeconds =
    retryAfter && /^\d+$/.test(retryAfter)
      ? Number(retryAfter)
      : RETRY_AFTER_SECONDS[answer.code as ErrorCode];
  return retryAfterSeconds === undefined ? answer : { ...answer, retryAfterSeconds };
}

const stringField = (body: unknown, name: string): string | undefined => {
  const value =
    typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
  return typeof value === 'string' ? value : undefined;
};

function headerOf(
  headers: { get(name: string): string | null } | Record<string, string | string[] | undefined> | undefined,
  name: string,
): string | undefined {
  if (!headers) return undefined;
  if ('get' in headers && typeof headers.get === 'function') return headers.get(name) ?? undefined;
  const value = (headers as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(value) ? value[0] : value;
}
