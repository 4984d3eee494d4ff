import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Context, ScheduledEvent } from 'aws-lambda';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { lambdaContext } from '../../infra/local/server';
import { LocalDiskBackend } from '../../shared/backends/local-disk';
import { getStorage } from '../../shared/backends/registry';
import type { ApiEvent, LambdaResult } from '../../shared/http/api';
import { fallbackRoute, internalFunctions, matchRoute, routeKey, routes } from '../../shared/routes';
import type { SweepResult } from '../../shared/service/sweep';
import { setupTestEnv, type TestEnv } from '../helpers/env';

// The shared logger reads its level when first imported, which is before setupTestEnv runs.
vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
});

/**
 * Every handler invoked with its sample event from events/, against DynamoDB Local and local disk:
 * the events are the documentation of what each Lambda receives, so they must keep working.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));
const eventsDir = join(root, 'events');

const readEvent = <T = ApiEvent>(fn: string): T =>
  JSON.parse(readFileSync(join(eventsDir, `${fn}.json`), 'utf8')) as T;

type ApiHandler = (event: ApiEvent, context: Context) => Promise<LambdaResult>;

async function invoke(fn: string, event: ApiEvent = readEvent(fn)): Promise<LambdaResult> {
  const { handler } = (await import(`../../functions/${fn}.ts`)) as { handler: ApiHandler };
  return handler(event, lambdaContext(fn));
}

const bodyText = (r: LambdaResult): string => {
  expect(typeof r.body === 'string' || r.body === undefined).toBe(true);
  return (r.body as string | undefined) ?? '';
};
const bytesOf = (r: LambdaResult) => Buffer.from(bodyText(r), r.isBase64Encoded ? 'base64' : 'utf8');
// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
const jsonOf = (r: LambdaResult): any => JSON.parse(bodyText(r));
const headerOf = (r: LambdaResult, name: string) => (r.headers as Record<string, string> | undefined)?.[name];
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

/** The same event sent to another path of the same route, as API Gateway would build it. */
function retarget(event: ApiEvent, rawPath: string, query?: Record<string, string>): ApiEvent {
  const e = structuredClone(event);
  const match = matchRoute(e.requestContext.http.method, rawPath);
  if (!match || 'methodMismatch' in match) throw new Error(`no route for ${rawPath}`);
  e.rawPath = rawPath;
  e.requestContext.http.path = rawPath;
  e.pathParameters = match.pathParameters;
  e.queryStringParameters = query;
  e.rawQueryString = query ? new URLSearchParams(query).toString() : '';
  return e;
}

/** The body bytes an event carries. */
const eventBody = (e: ApiEvent) => Buffer.from(e.body ?? '', e.isBase64Encoded ? 'base64' : 'utf8');

describe('events/: every handler with its sample event', () => {
  let env: TestEnv;
  beforeAll(async () => {
    // The operator identity the operator events' claims carry (a Cognito group).
    env = await setupTestEnv({ OPERATOR_CLAIM: 'cognito:groups=storage-operators' });
  });
  afterAll(async () => {
    await env?.cleanup();
  });

  it('has one event per route, $default and per internal function, consistent with the route table', () => {
    const expected = [...routes.map((r) => r.fn), fallbackRoute.fn, ...internalFunctions].sort();
    const eventFiles = readdirSync(eventsDir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.slice(0, -'.json'.length))
      .sort();
    expect(eventFiles).toEqual(expected);
    const functionFiles = readdirSync(join(root, 'functions'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => f.slice(0, -'.ts'.length))
      .sort();
    expect(functionFiles).toEqual(expected);

    for (const route of routes) {
      const e = readEvent(route.fn);
      const where = `events/${route.fn}.json`;
      expect(e.version, where).toBe('2.0');
      expect(e.routeKey, where).toBe(routeKey(route));
      expect(e.requestContext.routeKey, where).toBe(routeKey(route));
      expect(e.requestContext.http.method, where).toBe(route.method);
      expect(e.requestContext.http.path, where).toBe(e.rawPath);
      expect(e.requestContext.stage, where).toBe('$default');
      expect(typeof e.requestContext.requestId, where).toBe('string');
      expect(Number.isInteger(e.requestContext.timeEpoch), where).toBe(true);
      expect(e.requestContext.domainName, where).toBe(e.headers.host);
      // The path parameters are what API Gateway extracts from rawPath for this route.
      const match = matchRoute(route.method, e.rawPath);
      expect(match && 'route' in match ? match.route.fn : match, where).toBe(route.fn);
      expect(e.pathParameters ?? {}, where).toEqual(match && 'route' in match ? match.pathParameters : {});
      expect(e.queryStringParameters ?? {}, where).toEqual(
        Object.fromEntries(new URLSearchParams(e.rawQueryString)),
      );
      if (e.body !== undefined) {
        expect(e.headers['content-length'], where).toBe(String(eventBody(e).length));
      }
      if (route.permission === null) {
        expect(e.requestContext.authorizer, where).toBeUndefined();
        expect(e.headers.authorization, where).toBeUndefined();
      } else {
        const { claims, scopes } = e.requestContext.authorizer.jwt;
        expect(claims, where).toMatchObject(
          route.permission === 'manage'
            ? { sub: 'ops-1', 'cognito:groups': '[storage-operators]' }
            : { sub: 'alice', tenant: 'acme' },
        );
        expect(String(claims.scope).split(' '), where).toContain(`storage:${route.permission}`);
        expect(scopes, where).toContain(`storage:${route.permission}`);
        expect(e.headers.authorization, where).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
      }
    }

    // $default: a request no route of the table takes, without authorizer.
    const fallback = readEvent(fallbackRoute.fn);
    expect(fallback.routeKey).toBe('$default');
    expect(fallback.requestContext.routeKey).toBe('$default');
    expect(fallback.requestContext.authorizer).toBeUndefined();
    expect(fallback.pathParameters).toBeUndefined();
    expect(matchRoute(fallback.requestContext.http.method, fallback.rawPath)).toMatchObject({
      methodMismatch: true,
    });

    const scheduled = readEvent<ScheduledEvent>('sweep-expired');
    expect(scheduled).toMatchObject({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} });
    expect(scheduled.resources[0]).toMatch(/^arn:aws:events:[\w-]+:\d{12}:rule\//);
  });

  const report = eventBody(readEvent('upload-object'));
  const welcome = Buffer.from('Welcome to the acme file store.\nThis note is public.\n');
  let reportId = '';

  it('upload-object: 201, the record, and the bytes on local disk', async () => {
    const r = await invoke('upload-object');
    expect(r.statusCode).toBe(201);
    const body = jsonOf(r);
    expect(body).toMatchObject({
      md5: md5(report),
      size: report.length,
      type: 'text/plain',
      fullName: 'docs/report.txt',
      fileName: 'report.txt',
      uploadUser: 'alice',
      uid: 'alice',
      visibility: 'private',
      status: 'READY',
      expires: null,
      storage: 'storages.Default',
      url: 'http://localhost:3000/v1/objects/docs/report.txt',
    });
    expect(body.sha256).toBe(createHash('sha256').update(report).digest('hex'));
    expect(readFileSync(join(env.root, 'default', body.storeFullName))).toEqual(report);
    reportId = body.id;
  });

  it('upload-form: 201 for the multipart file, public', async () => {
    expect(eventBody(readEvent('upload-form')).includes(welcome)).toBe(true);
    const r = await invoke('upload-form');
    expect(r.statusCode).toBe(201);
    expect(jsonOf(r)).toMatchObject({
      md5: md5(welcome),
      size: welcome.length,
      type: 'text/plain',
      fullName: 'docs/welcome.txt',
      fileName: 'welcome.txt',
      uploadUser: 'alice',
      visibility: 'public',
      status: 'READY',
    });
  });

  it('get-file-record: 200 with the record of the uploaded file', async () => {
    const r = await invoke('get-file-record');
    expect(r.statusCode).toBe(200);
    expect(headerOf(r, 'content-type')).toMatch(/^application\/json/);
    expect(jsonOf(r)).toMatchObject({
      id: reportId,
      md5: md5(report),
      size: report.length,
      fullName: 'docs/report.txt',
      retentionPeriod: null,
    });
  });

  it('download-object: 200 with the bytes (base64, no streaming in Lambda), Range and If-None-Match', async () => {
    const r = await invoke('download-object');
    expect(r.statusCode).toBe(200);
    expect(r.isBase64Encoded).toBe(true);
    expect(bytesOf(r)).toEqual(report);
    expect(headerOf(r, 'content-type')).toBe('text/plain');
    expect(headerOf(r, 'content-length')).toBe(String(report.length));
    expect(headerOf(r, 'etag')).toBe(`"${md5(report)}"`);
    expect(headerOf(r, 'content-disposition')).toMatch(/^attachment; filename="?report\.txt"?$/);

    const ranged = readEvent('download-object');
    ranged.headers.range = 'bytes=0-8';
    const partial = await invoke('download-object', ranged);
    expect(partial.statusCode).toBe(206);
    expect(bytesOf(partial)).toEqual(report.subarray(0, 9));
    expect(headerOf(partial, 'content-range')).toBe(`bytes 0-8/${report.length}`);

    const cached = readEvent('download-object');
    cached.headers['if-none-match'] = `"${md5(report)}"`;
    expect((await invoke('download-object', cached)).statusCode).toBe(304);
  });

  it('download-object: 401 without the authorizer context, 403 without the scope', async () => {
    const anonymous = readEvent('download-object');
    delete (anonymous.requestContext as Partial<ApiEvent['requestContext']>).authorizer;
    const r401 = await invoke('download-object', anonymous);
    expect(r401.statusCode).toBe(401);
    expect(jsonOf(r401).error.code).toBe('UNAUTHORIZED');

    const uploadOnly = readEvent('download-object');
    uploadOnly.requestContext.authorizer.jwt.claims.scope = 'storage:upload';
    const r403 = await invoke('download-object', uploadOnly);
    expect(r403.statusCode).toBe(403);
    expect(jsonOf(r403).error.code).toBe('FORBIDDEN');
  });

  it('list-objects: 200 with both files under docs/, in path order', async () => {
    const r = await invoke('list-objects');
    expect(r.statusCode).toBe(200);
    const body = jsonOf(r);
    expect(body.items.map((i: { fullName: string }) => i.fullName)).toEqual([
      'docs/report.txt',
      'docs/welcome.txt',
    ]);
    expect(body.cursor).toBeNull();
  });

  it('preview-object: a public file inline without a token; a private one is 404 without a link', async () => {
    const r = await invoke('preview-object');
    expect(r.statusCode).toBe(200);
    expect(bytesOf(r)).toEqual(welcome);
    expect(headerOf(r, 'content-disposition')).toMatch(/^inline; filename="?welcome\.txt"?$/);
    expect(headerOf(r, 'content-security-policy')).toContain('sandbox');

    const privateFile = retarget(readEvent('preview-object'), '/v1/preview/acme/docs/report.txt');
    const denied = await invoke('preview-object', privateFile);
    expect(denied.statusCode).toBe(404);
    expect(jsonOf(denied).error.code).toBe('NOT_FOUND');
  });

  it('get-thumbnail and render-thumbnails: the FileUploaded event renders the eager size; the sample answers a 64 x 64 WebP', async () => {
    // What the samples name: a public image images/logo.png, stored here through upload-object.
    const png = await sharp({ create: { width: 256, height: 128, channels: 3, background: '#3a7bd5' } })
      .png()
      .toBuffer();
    const put = retarget(readEvent('upload-object'), '/v1/objects/images/logo.png', { visibility: 'public' });
    put.headers = { ...put.headers, 'content-type': 'image/png', 'content-length': String(png.length) };
    put.body = png.toString('base64');
    const stored = await invoke('upload-object', put);
    expect(stored.statusCode).toBe(201);
    const render = (await import('../../functions/render-thumbnails')).handler as unknown as (
      e: unknown,
      c: Context,
    ) => Promise<{ rendered: number }>;
    const uploaded = readEvent<{ detail: Record<string, unknown> }>('render-thumbnails');
    // The sample's id is no file's (replaced since, as far as the handler can tell): nothing to do.
    expect(await render(uploaded, lambdaContext('render-thumbnails'))).toEqual({ rendered: 0 });
    const current = { ...uploaded, detail: { ...uploaded.detail, id: jsonOf(stored).id } };
    expect(await render(current, lambdaContext('render-thumbnails'))).toEqual({ rendered: 1 });

    const r = await invoke('get-thumbnail');
    expect(r.statusCode).toBe(200);
    expect(headerOf(r, 'content-type')).toBe('image/webp');
    expect(headerOf(r, 'vary')).toBe('Accept');
    expect(headerOf(r, 'cache-control')).toBe('public, max-age=300');
    expect(await sharp(bytesOf(r)).metadata()).toMatchObject({ format: 'webp', width: 64, height: 64 });
    const again = retarget(readEvent('get-thumbnail'), '/v1/thumbnails/acme/images/logo.png', {
      width: '64',
      height: '64',
    });
    again.headers = { ...again.headers, 'if-none-match': headerOf(r, 'etag') as string };
    expect((await invoke('get-thumbnail', again)).statusCode).toBe(304);
    const text = await invoke(
      'get-thumbnail',
      retarget(readEvent('get-thumbnail'), '/v1/thumbnails/acme/docs/welcome.txt'),
    );
    expect(text.statusCode).toBe(415);
    expect(jsonOf(text).error.code).toBe('UNSUPPORTED_IMAGE');
    // Out of the sample sequence again, thumbnails and all (the usage events count the other files).
    const removed = await invoke(
      'delete-object',
      retarget(readEvent('delete-object'), '/v1/objects/images/logo.png'),
    );
    expect(removed.statusCode).toBe(204);
  });

  it('get-openapi: 200 with the document, without a token', async () => {
    const r = await invoke('get-openapi');
    expect(r.statusCode).toBe(200);
    expect(jsonOf(r)).toMatchObject({ openapi: '3.1.0', info: { title: 'Unified file storage' } });
  });

  it('create-link: 201 with a signed link that preview-object serves', async () => {
    const r = await invoke('create-link');
    expect(r.statusCode).toBe(201);
    const link = jsonOf(r);
    const url = new URL(link.url);
    expect(`${url.origin}${url.pathname}`).toBe('http://localhost:3000/v1/preview/acme/docs/report.txt');
    expect(url.searchParams.get('disposition')).toBe('inline');
    const expiresIn = (Date.parse(link.expiresAt) - Date.now()) / 1000;
    expect(expiresIn).toBeGreaterThan(3500);
    expect(expiresIn).toBeLessThanOrEqual(3600);

    const follow = retarget(readEvent('preview-object'), url.pathname, Object.fromEntries(url.searchParams));
    const served = await invoke('preview-object', follow);
    expect(served.statusCode).toBe(200);
    expect(bytesOf(served)).toEqual(report);
    expect(headerOf(served, 'content-disposition')).toMatch(/^inline; filename="?report\.txt"?$/);

    // revoke-links: 204, and the link just served is dead while the file stays.
    const revoked = await invoke('revoke-links');
    expect(revoked.statusCode).toBe(204);
    expect((await invoke('preview-object', follow)).statusCode).toBe(404);
    expect((await invoke('download-object')).statusCode).toBe(200);
  });

  let scan: Buffer = Buffer.alloc(0);
  let uploadId = '';

  it('sign-upload: 201 with a signed local upload URL and a reservation', async () => {
    const request = JSON.parse(readEvent('sign-upload').body ?? '') as { size: number; md5: string };
    const r = await invoke('sign-upload');
    expect(r.statusCode).toBe(201);
    const signed = jsonOf(r);
    expect(signed).toMatchObject({ path: 'docs/scan.pdf', mode: 'single', method: 'PUT' });
    expect(signed.headers).toEqual({ 'content-type': 'application/pdf' });
    expect(signed.url).toMatch(/^http:\/\/localhost:3000\/_local\/upload\?/);
    uploadId = signed.uploadId;

    const usage = jsonOf(await invoke('get-usage'));
    expect(usage.reservedBytes).toBe(request.size);

    // What the local server does with the client's PUT to that URL.
    scan = Buffer.from('%PDF-1.4\n% acme scan, uploaded straight to storage\n%%EOF\n');
    expect(scan.length).toBe(request.size);
    expect(md5(scan)).toBe(request.md5);
    const backend = getStorage();
    expect(backend).toBeInstanceOf(LocalDiskBackend);
    const outcome = await (backend as LocalDiskBackend).acceptSignedUpload(
      new URL(signed.url).searchParams,
      Readable.from([scan]),
    );
    expect(outcome).toBe('ok');
  });

  it('complete-upload: 200 and READY for the signed upload, idempotent; 404 for the sample id', async () => {
    const sample = await invoke('complete-upload');
    expect(sample.statusCode).toBe(404);
    expect(jsonOf(sample).error.code).toBe('UPLOAD_NOT_FOUND');

    const event = retarget(readEvent('complete-upload'), `/v1/uploads/${uploadId}/complete`);
    const r = await invoke('complete-upload', event);
    expect(r.statusCode).toBe(200);
    const record = jsonOf(r);
    expect(record).toMatchObject({
      id: uploadId,
      md5: md5(scan),
      size: scan.length,
      type: 'application/pdf',
      fullName: 'docs/scan.pdf',
      status: 'READY',
      uploadUser: 'alice',
    });
    const again = await invoke('complete-upload', event);
    expect(again.statusCode).toBe(200);
    expect(jsonOf(again).id).toBe(uploadId);
  });

  it('get-upload, sign-parts, list-parts, abort-upload: the sample id is unknown; the completed upload is READY', async () => {
    for (const fn of ['get-upload', 'sign-parts', 'list-parts']) {
      const r = await invoke(fn);
      expect(r.statusCode, fn).toBe(404);
      expect(jsonOf(r).error.code, fn).toBe('UPLOAD_NOT_FOUND');
    }
    // Aborting is idempotent: an unknown upload is already gone.
    expect((await invoke('abort-upload')).statusCode).toBe(204);
    const status = await invoke('get-upload', retarget(readEvent('get-upload'), `/v1/uploads/${uploadId}`));
    expect(status.statusCode).toBe(200);
    expect(jsonOf(status)).toMatchObject({
      uploadId,
      mode: 'single',
      status: 'READY',
      file: { id: uploadId },
    });
    const abort = await invoke(
      'abort-upload',
      retarget(readEvent('abort-upload'), `/v1/uploads/${uploadId}`),
    );
    expect(abort.statusCode).toBe(409);
    expect(jsonOf(abort).error.code).toBe('UPLOAD_COMPLETED');
  });

  const totalBytes = () => report.length + welcome.length + scan.length;

  it('get-usage: 200 with counters equal to the stored files', async () => {
    const r = await invoke('get-usage');
    expect(r.statusCode).toBe(200);
    expect(jsonOf(r)).toEqual({
      tenant: 'acme',
      limitBytes: 10 * 1024 ** 3,
      usedBytes: totalBytes(),
      reservedBytes: 0,
      fileCount: 3,
    });
  });

  it('set-quota: 200 with the new limit, which get-usage then reports', async () => {
    const r = await invoke('set-quota');
    expect(r.statusCode).toBe(200);
    expect(jsonOf(r)).toMatchObject({ tenant: 'acme', limitBytes: 1073741824, usedBytes: totalBytes() });
    expect(jsonOf(await invoke('get-usage')).limitBytes).toBe(1073741824);
  });

  it('recalculate-usage: 200 with the same totals recomputed from the records', async () => {
    const r = await invoke('recalculate-usage');
    expect(r.statusCode).toBe(200);
    expect(jsonOf(r)).toMatchObject({
      tenant: 'acme',
      limitBytes: 1073741824,
      usedBytes: totalBytes(),
      reservedBytes: 0,
      fileCount: 3,
    });
  });

  it('list-storages: 200 with the configured instances', async () => {
    const r = await invoke('list-storages');
    expect(r.statusCode).toBe(200);
    const { storages } = jsonOf(r);
    expect(storages).toEqual([
      expect.objectContaining({ name: 'storages.Default', type: 'local-disk', default: true }),
      expect.objectContaining({ name: 'storages.Other', type: 'local-disk', default: false }),
    ]);
    expect(storages[0].capabilities).toMatchObject({ presignUpload: true, presignDownload: false });
    expect(JSON.stringify(storages)).not.toContain(env.root);
  });

  it("no-route: 405 with Allow for a path of another method, 404 otherwise, in the service's JSON", async () => {
    const r = await invoke('no-route');
    expect(r.statusCode).toBe(405);
    expect(headerOf(r, 'allow')).toBe('DELETE, GET, PUT');
    expect(headerOf(r, 'content-type')).toMatch(/^application\/json/);
    expect(jsonOf(r)).toEqual({
      error: { code: 'METHOD_NOT_ALLOWED', message: expect.stringContaining('PATCH') },
    });

    const unknown = structuredClone(readEvent('no-route'));
    unknown.rawPath = '/v2/objects/x';
    unknown.requestContext.http = { ...unknown.requestContext.http, method: 'GET', path: unknown.rawPath };
    const missing = await invoke('no-route', unknown);
    expect(missing.statusCode).toBe(404);
    expect(headerOf(missing, 'allow')).toBeUndefined();
    expect(jsonOf(missing)).toEqual({ error: { code: 'NOT_FOUND', message: 'No such route' } });
  });

  it('delete-object: 204, then 404 on read, and 204 again (idempotent)', async () => {
    const r = await invoke('delete-object');
    expect(r.statusCode).toBe(204);
    expect(r.body ?? '').toBe('');

    const download = await invoke('download-object');
    expect(download.statusCode).toBe(404);
    expect(jsonOf(download).error.code).toBe('NOT_FOUND');
    expect((await invoke('get-file-record')).statusCode).toBe(404);
    expect((await invoke('delete-object')).statusCode).toBe(204);

    const usage = jsonOf(await invoke('get-usage'));
    expect(usage).toMatchObject({ usedBytes: welcome.length + scan.length, fileCount: 2 });
  });

  it('sweep-expired: the scheduled event removes an expired file and reports what it did', async () => {
    const upload = retarget(readEvent('upload-object'), '/v1/objects/docs/draft.txt', { expires: '1' });
    const created = await invoke('upload-object', upload);
    expect(created.statusCode).toBe(201);
    expect(jsonOf(created).retentionPeriod).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 1_200));

    const { handler } = await import('../../functions/sweep-expired');
    const scheduled = readEvent<ScheduledEvent>('sweep-expired');
    const result: SweepResult = await handler(scheduled, lambdaContext('sweep-expired'));
    expect(result).toEqual({ files: 1, uploads: 0, garbage: 1, leftovers: 0, failed: 0, complete: true });

    const record = await invoke(
      'get-file-record',
      retarget(readEvent('get-file-record'), '/v1/meta/docs/draft.txt'),
    );
    expect(record.statusCode).toBe(404);
    const usage = jsonOf(await invoke('get-usage'));
    expect(usage).toMatchObject({ usedBytes: welcome.length + scan.length, fileCount: 2 });

    // A second run finds nothing; a run without time left stops before doing anything.
    const nothing = { files: 0, uploads: 0, garbage: 0, leftovers: 0, failed: 0 };
    expect(await handler(scheduled, lambdaContext('sweep-expired'))).toEqual({ ...nothing, complete: true });
    expect(await handler(scheduled, lambdaContext('sweep-expired', 0))).toEqual({
      ...nothing,
      complete: false,
    });
  });
});
