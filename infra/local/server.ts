import { randomUUID } from 'node:crypto';
import { ReadStream } from 'node:fs';
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import { type Duplex, Readable } from 'node:stream';
import type { Context } from 'aws-lambda';
import { LOCAL_UPLOAD_PATH, LocalDiskBackend } from '../../shared/backends/local-disk';
import { getStorage } from '../../shared/backends/registry';
import { AppError } from '../../shared/errors';
import { errorResult, type LambdaResult } from '../../shared/http/api';
import { allowStreamingResponse, attachRequestStream } from '../../shared/http/local-stream';
import { fallbackRoute, matchRoute, type Route, routeKey } from '../../shared/routes';
import { isDocsPath, serveDocs } from './docs-page';
import { sendFile } from './send-file';
import { LOCAL_STATIC_PREFIX, serveStatic } from './static-files';
import { verifyDevToken } from './tokens';
import { createUiPage, isUiPath } from './ui-page';

type LambdaHandler = (event: unknown, context: Context) => Promise<LambdaResult>;

/** Non-file bodies (JSON) are small; a bigger one is refused rather than buffered. */
const MAX_JSON_BODY = 1024 * 1024;

const handlers = new Map<string, LambdaHandler>();

/** The very handler exports that Lambda runs, loaded on first use. */
async function loadHandler(fn: string): Promise<LambdaHandler> {
  let handler = handlers.get(fn);
  if (!handler) {
    const mod = (await import(`../../functions/${fn}.ts`)) as { handler: LambdaHandler };
    handler = mod.handler;
    handlers.set(fn, handler);
  }
  return handler;
}

export function lambdaContext(functionName: string, timeoutMs = 15 * 60_000): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

function sendJson(res: ServerResponse, result: { statusCode: number; json: unknown }) {
  const body = JSON.stringify(result.json);
  res.writeHead(result.statusCode, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function sendError(res: ServerResponse, error: AppError) {
  const r = errorResult(error);
  sendJson(res, { statusCode: r.status, json: r.json });
}

async function readSmallBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_JSON_BODY) throw new AppError('FILE_TOO_LARGE', 'The request body is too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

const isText = (contentType: string | undefined) =>
  !contentType || /^(application\/(json|x-www-form-urlencoded)|text\/)/i.test(contentType);

function bearer(req: IncomingMessage): string | undefined {
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

/** What the event says about its route: the table's route, or `$default` (whose body is never read). */
type EventRoute = Pick<Route, 'streamsBody'> & { key: string; readsBody: boolean };

/** Turns one HTTP request into the API Gateway v2 event the route's Lambda would receive. */
async function toEvent(
  req: IncomingMessage,
  url: URL,
  route: EventRoute,
  pathParameters: Record<string, string>,
  claims: Record<string, unknown> | undefined,
) {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = query[k] === undefined ? v : `${query[k]},${v}`;
  const now = new Date();
  const event: Record<string, unknown> = {
    version: '2.0',
    routeKey: route.key,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    queryStringParameters: Object.keys(query).length ? query : undefined,
    pathParameters: Object.keys(pathParameters).length ? pathParameters : undefined,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'localhost',
      http: {
        method: req.method,
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: route.key,
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
      ...(claims ? { authorizer: { jwt: { claims, scopes: null } } } : {}),
    },
    isBase64Encoded: false,
  };
  if (route.streamsBody) {
    attachRequestStream(event, req);
  } else if (route.readsBody && req.method !== 'GET' && req.method !== 'DELETE') {
    const body = await readSmallBody(req);
    if (body.length) {
      const text = isText(headers['content-type']);
      event.body = body.toString(text ? 'utf8' : 'base64');
      event.isBase64Encoded = !text;
    }
  }
  allowStreamingResponse(event);
  return event;
}

async function writeResult(req: IncomingMessage, res: ServerResponse, result: LambdaResult) {
  const headers = { ...(result.headers as Record<string, string>) };
  if (!req.complete) headers.connection = 'close'; // the body was not read: do not keep the connection
  const body = result.body;
  if (body instanceof Readable) {
    res.writeHead(result.statusCode ?? 200, headers);
    if (body instanceof ReadStream) {
      // A stored file (local disk): sent through reused buffers.
      await sendFile(body, res).catch(() => res.destroy());
      return;
    }
    body.on('error', () => res.destroy());
    body.pipe(res);
    return;
  }
  const buffer = Buffer.isBuffer(body)
    ? body
    : Buffer.from(body ?? '', result.isBase64Encoded ? 'base64' : 'utf8');
  if (result.statusCode !== 204 && result.statusCode !== 304)
    headers['content-length'] = String(buffer.length);
  res.writeHead(result.statusCode ?? 200, headers);
  res.end(result.statusCode === 204 || result.statusCode === 304 ? undefined : buffer);
}

/** PUT to a signed local upload (or part) URL: the local-disk stand-in for a presigned bucket URL. */
async function acceptLocalUpload(req: IncomingMessage, res: ServerResponse, url: URL) {
  let backend: unknown;
  try {
    backend = getStorage(url.searchParams.get('storage'));
  } catch {
    backend = undefined;
  }
  if (!(backend instanceof LocalDiskBackend) || req.method !== 'PUT') {
    return sendError(res, new AppError('INVALID_LINK', 'Not a valid upload URL'));
  }
  const { outcome, etag } = await backend.acceptSigned(url.searchParams, req);
  if (outcome === 'forbidden')
    return sendError(res, new AppError('INVALID_LINK', 'The upload URL is invalid or expired'));
  if (outcome === 'too-large')
    return sendError(res, new AppError('FILE_TOO_LARGE', 'The body exceeds the size signed into the URL'));
  if (outcome === 'not-found')
    return sendError(res, new AppError('UPLOAD_NOT_FOUND', 'The multipart upload does not exist'));
  // A part answers its ETag, as a bucket does.
  res.writeHead(200, { 'content-length': '0', ...(etag ? { etag } : {}) });
  res.end();
}

export interface LocalServerOptions {
  port: number;
  host?: string;
  jwtSecret: string;
  /** A folder served under /_local/static/ (test pages); default LOCAL_STATIC_DIR, unset = none. */
  staticDir?: string;
  /** Where the file browser is built on its first request; default a temporary folder. */
  uiDir?: string;
}

/**
 * Node answers a request it cannot parse itself, with an empty body: a bad request line or header
 * (400), headers over its 16 KiB limit (431). Here those answers carry the service's JSON too.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex & { bytesWritten?: number }) {
  // As Node's own handler: only on a connection nothing was written to yet, never mid-response.
  if (error.code === 'ECONNRESET' || !socket.writable || (socket.bytesWritten ?? 0) > 0) {
    socket.destroy();
    return;
  }
  const appError =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? new AppError('HEADERS_TOO_LARGE', 'The request headers are too large')
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new AppError('UPLOAD_TIMEOUT', 'The request took too long to arrive')
        : new AppError('MALFORMED_REQUEST', 'The request is not valid HTTP');
  const { status, json } = errorResult(appError);
  const body = JSON.stringify(json);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
      'content-type: application/json; charset=utf-8\r\n' +
      `content-length: ${Buffer.byteLength(body)}\r\n` +
      `connection: close\r\n\r\n${body}`,
  );
}

/** Serves the route table over HTTP by calling the same handler exports Lambda runs. */
export function createLocalServer(options: LocalServerOptions): Server {
  const staticDir = options.staticDir ?? process.env.LOCAL_STATIC_DIR;
  const ui = createUiPage({
    jwtSecret: options.jwtSecret,
    ...(options.uiDir ? { outdir: options.uiDir } : {}),
  });
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const rawPath = (req.url ?? '/').split('?')[0] as string;
      if (rawPath === '/healthz') return sendJson(res, { statusCode: 200, json: { status: 'ok' } });
      if (rawPath === LOCAL_UPLOAD_PATH) return await acceptLocalUpload(req, res, url);
      if (isDocsPath(rawPath)) {
        return await serveDocs(req, res, rawPath, () =>
          sendError(res, new AppError('NOT_FOUND', 'No such file')),
        );
      }
      if (isUiPath(rawPath)) {
        return await ui.serve(req, res, rawPath, () =>
          sendError(res, new AppError('NOT_FOUND', 'No such file')),
        );
      }
      if (staticDir && rawPath.startsWith(LOCAL_STATIC_PREFIX)) {
        const notFound = () => sendError(res, new AppError('NOT_FOUND', 'No such file'));
        return await serveStatic(staticDir, req, res, rawPath, notFound);
      }
      const match = matchRoute(req.method ?? 'GET', rawPath);
      if (!match || 'methodMismatch' in match) {
        // What API Gateway's $default route runs in AWS: the same function answers 404/405.
        const fallback = { key: fallbackRoute.key, readsBody: false };
        const event = await toEvent(req, url, fallback, {}, undefined);
        const handler = await loadHandler(fallbackRoute.fn);
        return await writeResult(req, res, await handler(event, lambdaContext(fallbackRoute.fn)));
      }
      let claims: Record<string, unknown> | undefined;
      const token = bearer(req);
      if (match.route.permission) {
        // What the JWT authorizer does in AWS: no valid token, no invocation.
        claims = token ? ((await verifyDevToken(options.jwtSecret, token)) ?? undefined) : undefined;
        if (!claims) return sendError(res, new AppError('UNAUTHORIZED', 'A valid bearer token is required'));
      }
      const route = { key: routeKey(match.route), streamsBody: match.route.streamsBody, readsBody: true };
      const event = await toEvent(req, url, route, match.pathParameters, claims);
      const handler = await loadHandler(match.route.fn);
      const result = await handler(event, lambdaContext(match.route.fn));
      await writeResult(req, res, result);
    } catch (e) {
      if (res.headersSent) return res.destroy();
      sendError(res, e instanceof AppError ? e : new AppError('INTERNAL', 'Internal error'));
      if (!(e instanceof AppError)) console.error(e);
    }
  });
  server.on('clientError', answerClientError);
  server.on('close', () => void ui.close());
  return server;
}
