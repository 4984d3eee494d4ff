import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject } from 'zod-openapi';
import * as s from './api-schemas';
import { type ErrorCode, errorCodes } from './errors';
import { type Route, routeKey, routes } from './routes';
import * as z from './zod';

/**
 * The OpenAPI 3.1 document of the API, generated: the paths and methods from the route table, the
 * parameters, bodies and answers from the schemas the handlers validate with
 * (shared/api-schemas.ts), and for each route the error codes it can answer. Nothing here is
 * written twice: a route without its entry below fails the build of the document (and a test).
 */

type Answer = { description: string } & (
  | { json: z.ZodMiniType }
  | { bytes: string }
  | { redirect: true }
  | { empty: true }
);

interface Operation {
  summary: string;
  description?: string;
  query?: z.ZodMiniObject;
  body?: { json: z.ZodMiniType } | { bytes: string } | { form: true };
  answers: Record<number, Answer>;
  /** The codes this route answers besides those every route of its kind does (see commonErrors). */
  errors: ErrorCode[];
  /** The file path is a parameter ({path+}): the path codes apply. */
  headers?: Record<string, string>;
}

const PATH_CODES: ErrorCode[] = [
  'PATH_REQUIRED',
  'PATH_TRAVERSAL',
  'PATH_ABSOLUTE',
  'PATH_CONTROL_CHARACTER',
  'PATH_BACKSLASH',
  'PATH_EMPTY_SEGMENT',
  'PATH_TOO_LONG',
  'INVALID_PATH_ENCODING',
];
const STORAGE_CODES: ErrorCode[] = ['UNKNOWN_STORAGE', 'BACKEND_ERROR', 'BACKEND_UNAVAILABLE'];
const THUMBNAIL_PARAM_CODES: ErrorCode[] = [
  'INVALID_THUMBNAIL_SIZE',
  'INVALID_THUMBNAIL_FIT',
  'INVALID_THUMBNAIL_FORMAT',
  'INVALID_THUMBNAIL_QUALITY',
];

const file = (description: string): Answer => ({ description, bytes: 'The bytes of the file' });
const redirect: Answer = {
  description:
    'Where the storage presigns (S3, MinIO, OSS, Azure): a short-lived presigned GET in `Location`',
  redirect: true,
};
const notModified: Answer = { description: 'If-None-Match names the current ETag', empty: true };

/** One entry per function of the route table. */
/** What an upload through the API can answer, however its body is sent (raw or a form). */
const UPLOAD_ERRORS: ErrorCode[] = [
  'INVALID_MD5',
  'MD5_MISMATCH',
  'INVALID_EXPIRES',
  'INVALID_REQUEST',
  'ALREADY_EXISTS',
  'FILE_TOO_LARGE',
  'QUOTA_EXCEEDED',
  'UNSUPPORTED_MEDIA_TYPE',
  'UPLOAD_TIMEOUT',
];

const operations: Record<string, Operation> = {
  'upload-object': {
    summary: 'uploadByFile: upload the raw body',
    description:
      'The body streams to storage while md5 and sha256 are computed; the quota is reserved first. The type comes from Content-Type.',
    query: s.uploadQuery,
    body: { bytes: 'The file' },
    answers: { 201: { description: 'The stored file', json: s.attachment } },
    errors: UPLOAD_ERRORS,
  },
  'upload-form': {
    summary: 'uploadByFile from a multipart/form-data form',
    description:
      'Fields before the file: path, md5, expires, visibility, onConflict, contentType; then file.',
    query: s.storageQuery,
    body: { form: true },
    answers: { 201: { description: 'The stored file', json: s.attachment } },
    errors: UPLOAD_ERRORS,
  },
  'download-object': {
    summary: 'download: the file as an attachment',
    description: 'Range (one range) and If-None-Match are honoured.',
    query: s.storageQuery,
    answers: {
      200: file('The whole file'),
      206: file('The range asked for'),
      302: redirect,
      304: notModified,
    },
    errors: ['NOT_FOUND', 'RANGE_NOT_SATISFIABLE'],
  },
  'delete-object': {
    summary: 'delete: remove a file (idempotent)',
    query: s.storageQuery,
    answers: { 204: { description: 'Gone, whether or not it existed', empty: true } },
    errors: [],
  },
  'list-objects': {
    summary: 'list: one page of files in path order',
    query: s.listQuery,
    answers: { 200: { description: 'A page', json: s.listAnswer } },
    errors: ['INVALID_CURSOR', 'INVALID_REQUEST'],
  },
  'get-file-record': {
    summary: 'getObject: the file record',
    query: s.storageQuery,
    answers: { 200: { description: 'The file', json: s.attachment } },
    errors: ['NOT_FOUND'],
  },
  'preview-object': {
    summary: 'preview: the file inline (public files, or through a link)',
    description:
      'Inline (sandboxed) only for types a browser shows without running them; everything else as an attachment. A private file without a valid link answers exactly like a missing one.',
    query: s.previewQuery,
    answers: { 200: file('The file'), 206: file('The range asked for'), 302: redirect, 304: notModified },
    errors: ['NOT_FOUND', 'INVALID_LINK', 'RANGE_NOT_SATISFIABLE'],
  },
  'get-thumbnail': {
    summary: 'previewThumbnail: a thumbnail of an image (public files, or through a thumbnail link)',
    description:
      'Made with sharp from JPEG, PNG, WebP, GIF, AVIF and TIFF (SVG is refused); EXIF orientation applied, metadata stripped, first frame of an animation. Renders are cached per file and parameters.',
    query: s.thumbnailQuery,
    answers: {
      200: { description: 'The thumbnail (Content-Type says its format)', bytes: 'The image' },
      302: redirect,
      304: notModified,
    },
    errors: [
      'NOT_FOUND',
      'INVALID_LINK',
      ...THUMBNAIL_PARAM_CODES,
      'IMAGE_TOO_LARGE',
      'UNSUPPORTED_IMAGE',
      'INVALID_IMAGE',
      'IMAGE_TOO_MANY_PIXELS',
      'IMAGE_RENDER_TIMEOUT',
    ],
  },
  'create-link': {
    summary: 'A signed, expiring preview, download or thumbnail link',
    query: s.storageQuery,
    body: { json: s.linkBody },
    answers: { 201: { description: 'The link', json: s.linkAnswer } },
    errors: ['NOT_FOUND', 'INVALID_EXPIRES', 'INVALID_REQUEST', ...THUMBNAIL_PARAM_CODES],
  },
  'revoke-links': {
    summary: 'Revoke every link made so far to a file (the file stays)',
    query: s.storageQuery,
    answers: { 204: { description: 'Revoked', empty: true } },
    errors: ['NOT_FOUND'],
  },
  'sign-upload': {
    summary: 'getSignUrl: instructions for a direct upload (one request, or a plan of parts)',
    query: s.storageQuery,
    body: { json: s.signUploadBody },
    answers: { 201: { description: 'Where and how to send the bytes', json: s.uploadPlan } },
    errors: [
      'INVALID_MD5',
      'MD5_NOT_VERIFIABLE',
      'INVALID_EXPIRES',
      'INVALID_REQUEST',
      'FILE_TOO_LARGE',
      'QUOTA_EXCEEDED',
      'UNSUPPORTED_MEDIA_TYPE',
      'ALREADY_EXISTS',
    ],
  },
  'complete-upload': {
    summary: 'Finalize a direct upload (multipart: with its part list)',
    description:
      'Idempotent. A large object that must be read is checked asynchronously: 202, then poll the upload.',
    body: { json: s.completeBody },
    answers: {
      200: { description: 'The file', json: s.attachment },
      202: { description: 'Being verified: poll GET /v1/uploads/{uploadId}', json: s.verifying },
    },
    errors: [
      'INVALID_REQUEST',
      'UPLOAD_NOT_FOUND',
      'UPLOAD_INCOMPLETE',
      'UPLOAD_IN_PROGRESS',
      'INVALID_PARTS',
      'FILE_TOO_LARGE',
      'MD5_MISMATCH',
      'UNSUPPORTED_MEDIA_TYPE',
      'QUOTA_EXCEEDED',
      'ALREADY_EXISTS',
      ...STORAGE_CODES,
    ],
  },
  'sign-parts': {
    summary: 'Presigned URLs for a batch of parts (at most 100)',
    body: { json: s.signPartsBody },
    answers: { 200: { description: 'One PUT per part', json: s.signedParts } },
    errors: ['INVALID_REQUEST', 'INVALID_PARTS', 'UPLOAD_NOT_FOUND', 'UPLOAD_COMPLETED', ...STORAGE_CODES],
  },
  'list-parts': {
    summary: 'The parts stored so far (resume)',
    answers: { 200: { description: 'The plan and the stored parts', json: s.storedParts } },
    errors: ['UPLOAD_NOT_FOUND', 'UPLOAD_COMPLETED', ...STORAGE_CODES],
  },
  'get-upload': {
    summary:
      'The state of a direct upload: PENDING, VERIFYING, READY (with the file) or FAILED (with the code)',
    answers: { 200: { description: 'The upload', json: s.uploadStatus } },
    errors: ['UPLOAD_NOT_FOUND'],
  },
  'abort-upload': {
    summary: 'Abort a direct upload: reservation and parts go (idempotent)',
    answers: { 204: { description: 'Aborted, or already gone', empty: true } },
    errors: ['UPLOAD_COMPLETED', ...STORAGE_CODES],
  },
  'get-usage': {
    summary: "The caller's tenant counters",
    answers: { 200: { description: 'Usage and limit', json: s.usage } },
    errors: [],
  },
  'set-quota': {
    summary: "Set a tenant's limit (operators)",
    body: { json: s.quotaBody },
    answers: { 200: { description: 'The counters with the new limit', json: s.usage } },
    errors: ['INVALID_REQUEST'],
  },
  'recalculate-usage': {
    summary: "Recompute a tenant's counters from its records (operators)",
    query: s.recalculateQuery,
    answers: { 200: { description: 'The recomputed counters', json: s.usage } },
    errors: ['INVALID_REQUEST'],
  },
  'list-storages': {
    summary: 'The configured storage instances (never their settings)',
    answers: { 200: { description: 'The instances', json: s.storagesAnswer } },
    errors: [],
  },
  'run-audit': {
    summary: 'The integrity audit, optionally repairing (operators)',
    query: s.auditQuery,
    answers: { 200: { description: 'What was found (and fixed)', json: s.auditAnswer } },
    errors: ['INVALID_REQUEST', ...STORAGE_CODES],
  },
  'get-openapi': {
    summary: 'This document',
    answers: { 200: { description: 'OpenAPI 3.1', json: z.record(z.string(), z.unknown()) } },
    errors: [],
  },
};

/** Codes only the local server answers itself (Node could not parse the request): in the info, not on a route. */
export const LOCAL_ONLY_CODES: ErrorCode[] = ['MALFORMED_REQUEST', 'HEADERS_TOO_LARGE'];
/** What the `$default` route answers for a path or method no route has. */
const FALLBACK_CODES: ErrorCode[] = ['NOT_FOUND', 'METHOD_NOT_ALLOWED'];

/** The codes a route answers: its own, and those every route of its kind can. */
export function errorsOf(route: Route): ErrorCode[] {
  const operation = operations[route.fn];
  if (!operation) throw new Error(`shared/openapi.ts documents no operation for ${routeKey(route)}`);
  const codes = new Set<ErrorCode>(operation.errors);
  if (route.permission) for (const c of ['UNAUTHORIZED', 'FORBIDDEN'] as const) codes.add(c);
  if (route.path.includes('{path+}')) for (const c of PATH_CODES) codes.add(c);
  if (route.path.includes('{path+}') || route.path === '/v1/objects') {
    for (const c of STORAGE_CODES) codes.add(c);
  }
  if (operation.body && 'json' in operation.body) codes.add('INVALID_JSON');
  for (const c of ['THROTTLED', 'SERVICE_BUSY', 'INTERNAL'] as const) codes.add(c);
  return [...codes].sort((a, b) => errorCodes[a] - errorCodes[b] || a.localeCompare(b));
}

/** `{path+}` is API Gateway's greedy parameter; OpenAPI names it `{path}` (slashes and all). */
const openApiPath = (path: string) => path.replace(/\{(\w+)\+\}/g, '{$1}');

function parameters(route: Route) {
  const names = [...route.path.matchAll(/\{(\w+)\+?\}/g)].map((m) => m[1] as string);
  if (names.length === 0) return undefined;
  const described: Record<string, string> = {
    path: "The file's path inside the tenant, slashes included, each segment percent-encoded (UTF-8)",
    tenant: 'The tenant that owns the file',
    uploadId: 'The id `POST /v1/uploads` answered',
  };
  return z.object(Object.fromEntries(names.map((n) => [n, s.documented(z.string(), described[n] ?? n)])));
}

function responses(route: Route, operation: Operation) {
  const out: Record<string, unknown> = {};
  for (const [status, answer] of Object.entries(operation.answers)) {
    const content =
      'json' in answer
        ? { 'application/json': { schema: answer.json } }
        : 'bytes' in answer
          ? { '*/*': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } }
          : undefined;
    out[status] = {
      description: answer.description,
      ...(content ? { content } : {}),
      ...('redirect' in answer ? { headers: { Location: { schema: { type: 'string' } } } } : {}),
    };
  }
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of errorsOf(route))
    byStatus.set(errorCodes[code], [...(byStatus.get(errorCodes[code]) ?? []), code]);
  for (const [status, codes] of byStatus) {
    out[String(status)] = {
      description: `Error: ${codes.map((c) => `\`${c}\``).join(', ')}`,
      'x-error-codes': codes,
      content: {
        'application/json': {
          schema: s.errorAnswer,
          example: { error: { code: codes[0], message: '...' } },
        },
      },
    };
  }
  return out;
}

function operationOf(route: Route): ZodOpenApiOperationObject {
  const operation = operations[route.fn];
  if (!operation) throw new Error(`shared/openapi.ts documents no operation for ${routeKey(route)}`);
  const path = parameters(route);
  const body = operation.body;
  return {
    operationId: route.fn.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()),
    summary: operation.summary,
    ...(operation.description ? { description: operation.description } : {}),
    ...(route.permission ? { security: [{ bearer: [`storage:${route.permission}`] }] } : { security: [] }),
    'x-permission': route.permission ?? 'none',
    requestParams: {
      ...(path ? { path } : {}),
      ...(operation.query ? { query: operation.query } : {}),
    },
    ...(body
      ? {
          requestBody: {
            required: true,
            content:
              'json' in body
                ? { 'application/json': { schema: body.json } }
                : 'bytes' in body
                  ? { '*/*': { schema: { type: 'string', contentMediaType: 'application/octet-stream' } } }
                  : {
                      'multipart/form-data': {
                        schema: {
                          type: 'object',
                          properties: {
                            path: { type: 'string' },
                            md5: { type: 'string' },
                            expires: { type: 'string' },
                            visibility: { type: 'string', enum: ['private', 'public'] },
                            onConflict: { type: 'string', enum: ['overwrite', 'rename', 'fail'] },
                            contentType: { type: 'string' },
                            file: { type: 'string', contentMediaType: 'application/octet-stream' },
                          },
                          required: ['file'],
                        },
                      },
                    },
          },
        }
      : {}),
    responses: responses(route, operation) as ZodOpenApiOperationObject['responses'],
  };
}

/** The document for a deployment reachable at `serverUrl`. */
export function openApiDocument(serverUrl: string): Record<string, unknown> {
  const paths: ZodOpenApiPathsObject = {};
  for (const route of routes) {
    const path = openApiPath(route.path);
    paths[path] = { ...paths[path], [route.method.toLowerCase()]: operationOf(route) };
  }
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'Unified file storage',
      version: '1',
      description:
        'Every error is `{"error":{"code","message"}}` with the status of its code (each response lists its codes in `x-error-codes`). ' +
        `A path or method no route has answers ${FALLBACK_CODES.map((c) => `\`${c}\``).join(' or ')}; ` +
        `the local server also answers ${LOCAL_ONLY_CODES.map((c) => `\`${c}\``).join(' and ')} for requests Node cannot parse. ` +
        "Every route takes `?storage=storages.Name`. Tokens: `Authorization: Bearer <JWT>` with the tenant claim and the route's scope.",
      'x-fallback-error-codes': FALLBACK_CODES,
      'x-local-error-codes': LOCAL_ONLY_CODES,
    },
    servers: [{ url: serverUrl }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
    paths,
  }) as unknown as Record<string, unknown>;
}
