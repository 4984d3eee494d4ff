import { Readable } from 'node:stream';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2WithJWTAuthorizer, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { getConfig } from '../config';
import {
  AppError,
  fromStorageError,
  isAppError,
  isBusyError,
  RETRY_AFTER_SECONDS,
  StorageError,
  serviceBusy,
} from '../errors';
import { fieldCode } from '../field-codes';
import { logger } from '../logger';
import type { Permission, TenantPermission } from '../routes';
import { loadSecrets } from '../secrets';
import {
  type Principal,
  principalFromClaims,
  requirePermission,
  type TenantPrincipal,
} from '../service/principal';
import type * as z from '../zod';
import { canStreamResponse, requestStreamOf } from './local-stream';

export type ApiEvent = APIGatewayProxyEventV2WithJWTAuthorizer;

/** What a handler returns: a status with JSON, a stream, bytes already in memory, or nothing. */
export interface HttpResult {
  status: number;
  headers?: Record<string, string>;
  json?: unknown;
  body?: Readable | Buffer | string;
}

/** A result whose body may still be a stream or bytes (only ever handed to the local server). */
export type LambdaResult = Omit<APIGatewayProxyStructuredResultV2, 'body'> & {
  body?: string | Readable | Buffer;
};

export interface ApiRequest {
  event: ApiEvent;
  principal?: Principal;
  query: Record<string, string | undefined>;
  params: Record<string, string | undefined>;
  header(name: string): string | undefined;
  /** `?storage=`: the storage instance; the default one when absent. */
  storage?: string;
  /** Where this API is reachable, for URLs in responses. */
  baseUrl: string;
  /** The raw request body as a stream (never buffered by the local server). */
  body(): Readable;
  /** The body's length in bytes, when known (always in Lambda; from Content-Length locally). */
  bodyLength(): number | undefined;
  /** The body parsed as JSON and validated. */
  json<S extends z.ZodMiniType>(schema: S): z.infer<S>;
  /** The query string validated (shared/api-schemas.ts); a bad field answers its own code. */
  queryOf<S extends z.ZodMiniType>(schema: S): z.infer<S>;
}

/** A tenant route's request: the caller is inside one tenant. */
export interface AuthedRequest extends ApiRequest {
  principal: TenantPrincipal;
}

/** An operator route's request: the caller holds the deployment's operator identity. */
export interface OperatorRequest extends ApiRequest {
  principal: Principal;
}

/**
 * The largest binary body a Lambda response carries; bigger bodies must be served by redirect. The
 * whole response is capped at 6 MB (6 MiB), and a binary body travels base64 in it (4 bytes for
 * every 3), beside its headers (64 KiB kept for them).
 */
export const LAMBDA_BODY_LIMIT = Math.floor(((6 * 1024 * 1024 - 64 * 1024) * 3) / 4);

function toRequest(event: ApiEvent): ApiRequest {
  const config = getConfig();
  const headers = event.headers ?? {};
  const claims = event.requestContext?.authorizer?.jwt?.claims as Record<string, unknown> | undefined;
  return {
    event,
    principal: principalFromClaims(claims, config.tenantClaim, config.operatorClaim),
    query: event.queryStringParameters ?? {},
    // Decoded once already: by API Gateway in AWS, where an HTTP API's rawPath arrives decoded too
    // (so re-matching it would decode a client's "%25" a second time), and locally by matchRoute,
    // which refuses malformed escapes before a handler runs.
    params: event.pathParameters ?? {},
    header: (name) => headers[name.toLowerCase()],
    storage: event.queryStringParameters?.storage || undefined,
    baseUrl: config.publicBaseUrl ?? `https://${event.requestContext.domainName}`,
    body() {
      const stream = requestStreamOf(event);
      if (stream) return stream;
      const raw = event.body ?? '';
      return Readable.from([Buffer.from(raw, event.isBase64Encoded ? 'base64' : 'utf8')]);
    },
    bodyLength() {
      if (!requestStreamOf(event))
        return Buffer.byteLength(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
      const declared = headers['content-length'];
      return declared && /^\d+$/.test(declared) ? Number(declared) : undefined;
    },
    json(schema) {
      const raw = requestStreamOf(event)
        ? undefined
        : event.isBase64Encoded
          ? Buffer.from(event.body ?? '', 'base64').toString('utf8')
          : event.body;
      let value: unknown;
      try {
        value = JSON.parse(raw ?? '');
      } catch {
        throw new AppError('INVALID_JSON', 'The request body is not valid JSON');
      }
      return validated(schema, value, 'body');
    },
    queryOf(schema) {
      return validated(schema, event.queryStringParameters ?? {}, 'query');
    },
  };
}

/**
 * A value checked against its schema. The first problem answers 400 with the code the field's
 * schema names (shared/api-schemas.ts `coded`: INVALID_MD5, INVALID_THUMBNAIL_SIZE, ...), else
 * INVALID_REQUEST, and a message that names the field.
 */
function validated<S extends z.ZodMiniType>(schema: S, value: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path[0];
  const shape = (schema as unknown as { _zod: { def: { shape?: Record<string, unknown> } } })._zod.def.shape;
  const code =
    (typeof field === 'string' && shape ? fieldCode(shape[field]) : undefined) ?? 'INVALID_REQUEST';
  throw new AppError(code, `${issue?.path.join('.') || what}: ${issue?.message ?? 'invalid'}`);
}

export function errorResult(error: unknown): HttpResult {
  const appError = isAppError(error)
    ? error
    : error instanceof StorageError
      ? fromStorageError(error)
      : isBusyError(error)
        ? serviceBusy(error)
        : new AppError('INTERNAL', 'Internal error');
  if (appError.status >= 500) logger.error('request failed', { error: error as Error });
  const retryAfter = RETRY_AFTER_SECONDS[appError.code];
  return {
    status: appError.status,
    headers: retryAfter ? { 'retry-after': String(retryAfter) } : undefined,
    json: { error: { code: appError.code, message: appError.message } },
  };
}

async function toLambdaResult(result: HttpResult, event: ApiEvent): Promise<LambdaResult> {
  const headers: Record<string, string> = { ...result.headers };
  if (result.json !== undefined) {
    headers['content-type'] = 'application/json; charset=utf-8';
    return { statusCode: result.status, headers, body: JSON.stringify(result.json) };
  }
  const { body } = result;
  if (body instanceof Readable || Buffer.isBuffer(body)) {
    // The local server writes a stream or bytes as they are; a Lambda response is one string.
    if (canStreamResponse(event)) return { statusCode: result.status, headers, body };
    const bytes = Buffer.isBuffer(body) ? body : await readUpTo(body, LAMBDA_BODY_LIMIT);
    if (!bytes || bytes.length > LAMBDA_BODY_LIMIT) {
      const tooLarge = new AppError(
        'BACKEND_ERROR',
        'The file is too large to return from a function; use a storage with presigned downloads',
      );
      return toLambdaResult(errorResult(tooLarge), event);
    }
    // Binary bodies go base64, within the response cap.
    return { statusCode: result.status, headers, body: bytes.toString('base64'), isBase64Encoded: true };
  }
  return { statusCode: result.status, headers, body: body ?? '' };
}

/** A stream's bytes, or undefined (and the stream destroyed) once they pass `limit`. */
async function readUpTo(stream: Readable, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      stream.destroy();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

type Handler<R extends ApiRequest> = (request: R) => Promise<HttpResult>;

/**
 * Wraps a use-case call as an API Gateway v2 handler: principal and scope check, errors mapped to
 * `{ error: { code, message } }`, Powertools logging context.
 */
export function httpHandler(
  permission: TenantPermission,
  fn: Handler<AuthedRequest>,
): middy.MiddyfiedHandler<ApiEvent, LambdaResult>;
export function httpHandler(
  permission: 'manage',
  fn: Handler<OperatorRequest>,
): middy.MiddyfiedHandler<ApiEvent, LambdaResult>;
export function httpHandler(
  permission: null,
  fn: Handler<ApiRequest>,
): middy.MiddyfiedHandler<ApiEvent, LambdaResult>;
export function httpHandler(
  permission: Permission | null,
  fn: Handler<AuthedRequest> | Handler<OperatorRequest> | Handler<ApiRequest>,
) {
  return (
    middy<ApiEvent, LambdaResult>()
      .use(injectLambdaContext(logger, { resetKeys: true }))
      // In AWS the signing secret is read from Secrets Manager before configuration is first read.
      .use({ before: () => loadSecrets() })
      .use({
        onError: async (request) => {
          request.response = await toLambdaResult(errorResult(request.error), request.event);
        },
      })
      .handler(async (event) => {
        const request = toRequest(event);
        if (permission === 'manage') request.principal = requirePermission(request.principal, permission);
        else if (permission) request.principal = requirePermission(request.principal, permission);
        return toLambdaResult(await (fn as Handler<ApiRequest>)(request), event);
      })
  );
}
