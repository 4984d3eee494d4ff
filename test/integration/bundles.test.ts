import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { APIGatewayProxyEventV2WithJWTAuthorizer as ApiEvent } from 'aws-lambda';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lambdaFunctions } from '../../infra/bundling';
import type { LocalDiskBackend } from '../../shared/backends/local-disk';
import { getStorage } from '../../shared/backends/registry';
import { getSession } from '../../shared/metadata/sessions';
import { matchRoute } from '../../shared/routes';
import { type BundleRun, buildBundles, runBundle, writeRunner } from '../helpers/bundles';
import { setupTestEnv, type TestEnv } from '../helpers/env';

/**
 * The bundle smoke test: every function is built with the esbuild settings CDK deploys it with,
 * into a folder outside the project (no node_modules to fall back on), then imported and invoked
 * in a FRESH Node process with its events/ sample, against DynamoDB Local and local disk. This is
 * what catches a missing module, an ESM/CJS mix-up or a top-level-await problem before a deploy.
 */
const eventsDir = new URL('../../events/', import.meta.url);
const readEvent = <T = ApiEvent>(fn: string): T =>
  JSON.parse(readFileSync(new URL(`${fn}.json`, eventsDir), 'utf8')) as T;

/** The same route's event for another path (and query), as API Gateway would build it. */
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

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
const jsonOf = (r: { body?: string }): any => JSON.parse(r.body ?? '');
const bytesOf = (r: { body?: string; isBase64Encoded?: boolean }) =>
  Buffer.from(r.body ?? '', r.isBase64Encoded ? 'base64' : 'utf8');

describe('function bundles in fresh Node processes', () => {
  let env: TestEnv;
  let work: string;
  let runner: string;
  let bundles: Map<string, string>;
  let lambdaEnv: Record<string, string>;
  const runs = new Map<string, BundleRun>();

  /** Invokes one bundle with its events in a new process; remembers that the bundle ran. */
  async function invoke(fn: string, events: unknown[], extraEnv: Record<string, string> = {}) {
    const run = await runBundle(runner, bundles.get(fn) as string, fn, events, { ...lambdaEnv, ...extraEnv });
    runs.set(fn, run);
    return run.results;
  }

  beforeAll(async () => {
    env = await setupTestEnv();
    work = mkdtempSync(join(tmpdir(), 'storage-bundles-'));
    runner = writeRunner(work);
    bundles = await buildBundles(join(work, 'bundles'), lambdaFunctions);
    // What a Lambda of the stack gets, with the local components in place of AWS.
    const keys = [
      'DYNAMODB_ENDPOINT',
      'TABLE_NAME',
      'AWS_REGION',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
    ];
    lambdaEnv = {
      ...Object.fromEntries(keys.map((k) => [k, process.env[k] as string])),
      STORAGES: process.env.STORAGES as string,
      SIGNING_SECRET: process.env.SIGNING_SECRET as string,
      PUBLIC_BASE_URL: process.env.PUBLIC_BASE_URL as string,
      // The operator identity the operator events carry.
      OPERATOR_CLAIM: 'cognito:groups=storage-operators',
      POWERTOOLS_SERVICE_NAME: 'storage',
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      NODE_OPTIONS: '--enable-source-maps',
    };
  }, 120_000);

  afterAll(async () => {
    await env?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const report = bytesOf(readEvent('upload-object'));

  it('upload-object and upload-form store files: 201', async () => {
    const [put] = await invoke('upload-object', [readEvent('upload-object')]);
    expect(put.statusCode).toBe(201);
    expect(jsonOf(put)).toMatchObject({ fullName: 'docs/report.txt', size: report.length });
    const [form] = await invoke('upload-form', [readEvent('upload-form')]);
    expect(form.statusCode).toBe(201);
    expect(jsonOf(form)).toMatchObject({ fullName: 'docs/welcome.txt', visibility: 'public' });
  });

  it('get-file-record, download-object and list-objects read them: 200', async () => {
    const [meta] = await invoke('get-file-record', [readEvent('get-file-record')]);
    expect(meta.statusCode).toBe(200);
    expect(jsonOf(meta).fullName).toBe('docs/report.txt');
    const [download] = await invoke('download-object', [readEvent('download-object')]);
    expect(download.statusCode).toBe(200);
    expect(bytesOf(download)).toEqual(report);
    const [list] = await invoke('list-objects', [readEvent('list-objects')]);
    expect(list.statusCode).toBe(200);
    expect(jsonOf(list).items).toHaveLength(2);
  });

  it('preview-object serves a public file without a token, and create-link signs one it accepts', async () => {
    const [link] = await invoke('create-link', [readEvent('create-link')]);
    expect(link.statusCode).toBe(201);
    const url = new URL(jsonOf(link).url);
    // Signed in one process, verified in another: both read the same SIGNING_SECRET.
    const follow = retarget(readEvent('preview-object'), url.pathname, Object.fromEntries(url.searchParams));
    const [publicFile, linked] = await invoke('preview-object', [readEvent('preview-object'), follow]);
    expect(publicFile.statusCode).toBe(200);
    expect(linked.statusCode).toBe(200);
    expect(bytesOf(linked)).toEqual(report);
    // revoke-links kills it; the file stays.
    const [revoked] = await invoke('revoke-links', [readEvent('revoke-links')]);
    expect(revoked.statusCode).toBe(204);
    const [dead] = await invoke('preview-object', [follow]);
    expect(dead.statusCode).toBe(404);
  });

  it('sign-upload, then S3 ObjectCreated on-object-created finalizes it, then complete-upload answers 200', async () => {
    const [signed] = await invoke('sign-upload', [readEvent('sign-upload')]);
    expect(signed.statusCode).toBe(201);
    const { uploadId, url } = jsonOf(signed) as { uploadId: string; url: string };
    // What the local server does with the client's PUT to the signed URL.
    const scan = Buffer.from('%PDF-1.4\n% acme scan, uploaded straight to storage\n%%EOF\n');
    const local = getStorage() as LocalDiskBackend;
    expect(await local.acceptSignedUpload(new URL(url).searchParams, Readable.from([scan]))).toBe('ok');
    const session = await getSession('acme', uploadId);

    const notification = readEvent<{ Records: { s3: { object: { key: string } } }[] }>('on-object-created');
    (notification.Records[0] as (typeof notification.Records)[number]).s3.object.key = session?.key as string;
    const [sample, finalized] = await invoke('on-object-created', [
      readEvent('on-object-created'),
      notification,
    ]);
    // The sample's upload does not exist: its staging object is a leftover, deleted at once.
    expect(sample).toEqual({ finalized: 0, ignored: 0, rejected: 0, discarded: 1 });
    expect(finalized).toEqual({ finalized: 1, ignored: 0, rejected: 0, discarded: 0 });

    const complete = retarget(readEvent('complete-upload'), `/v1/uploads/${uploadId}/complete`);
    const [done, unknown] = await invoke('complete-upload', [complete, readEvent('complete-upload')]);
    expect(done.statusCode).toBe(200);
    expect(jsonOf(done)).toMatchObject({ id: uploadId, size: scan.length, status: 'READY' });
    expect(unknown.statusCode).toBe(404);
    const [status] = await invoke('get-upload', [
      retarget(readEvent('get-upload'), `/v1/uploads/${uploadId}`),
    ]);
    expect(jsonOf(status)).toMatchObject({ status: 'READY', file: { id: uploadId } });
    // The sample ids are unknown: 404 for the part routes, 204 for an abort (idempotent).
    const [signParts] = await invoke('sign-parts', [readEvent('sign-parts')]);
    const [listParts] = await invoke('list-parts', [readEvent('list-parts')]);
    const [abort] = await invoke('abort-upload', [readEvent('abort-upload')]);
    expect([signParts.statusCode, listParts.statusCode, abort.statusCode]).toEqual([404, 404, 204]);
  });

  it('get-usage, set-quota, recalculate-usage and list-storages: 200', async () => {
    const [usage] = await invoke('get-usage', [readEvent('get-usage')]);
    expect(usage.statusCode).toBe(200);
    expect(jsonOf(usage)).toMatchObject({ tenant: 'acme', fileCount: 3, reservedBytes: 0 });
    const [quota] = await invoke('set-quota', [readEvent('set-quota')]);
    expect(quota.statusCode).toBe(200);
    const [recalculated] = await invoke('recalculate-usage', [readEvent('recalculate-usage')]);
    expect(recalculated.statusCode).toBe(200);
    expect(jsonOf(recalculated)).toMatchObject({ fileCount: 3, usedBytes: jsonOf(usage).usedBytes });
    const [storages] = await invoke('list-storages', [readEvent('list-storages')]);
    expect(storages.statusCode).toBe(200);
    expect(jsonOf(storages).storages.map((s: { name: string }) => s.name)).toContain('storages.Default');
  });

  it('delete-object: 204; errors keep their JSON shape in a bundle (401 without the authorizer)', async () => {
    const anonymous = readEvent('delete-object');
    delete (anonymous.requestContext as Partial<ApiEvent['requestContext']>).authorizer;
    const [deleted, again, denied] = await invoke('delete-object', [
      readEvent('delete-object'),
      readEvent('delete-object'),
      anonymous,
    ]);
    expect(deleted.statusCode).toBe(204);
    expect(again.statusCode).toBe(204);
    expect(denied.statusCode).toBe(401);
    expect(jsonOf(denied).error.code).toBe('UNAUTHORIZED');
  });

  it('run-audit (the operator route) and audit-integrity (its schedule) find nothing wrong', async () => {
    const [route] = await invoke('run-audit', [readEvent('run-audit')]);
    expect(route.statusCode).toBe(200);
    expect(jsonOf(route)).toMatchObject({ tenants: 1, findings: [], complete: true, repair: false });
    const [scheduled] = await invoke('audit-integrity', [readEvent('audit-integrity')]);
    expect(scheduled).toMatchObject({ findings: [], complete: true });
    expect(scheduled.tenants).toBeGreaterThanOrEqual(1);
  });

  it('get-openapi answers the OpenAPI 3.1 document, for the URL API Gateway was reached at', async () => {
    const [answer] = await invoke('get-openapi', [readEvent('get-openapi')]);
    expect(answer.statusCode).toBe(200);
    const document = jsonOf(answer);
    expect(document.openapi).toBe('3.1.0');
    expect(document.servers).toEqual([{ url: lambdaEnv.PUBLIC_BASE_URL }]);
    expect(Object.keys(document.paths)).toContain('/v1/thumbnails/{tenant}/{path}');
  });

  it('no-route ($default) answers 405 with Allow in the service JSON', async () => {
    const [answer] = await invoke('no-route', [readEvent('no-route')]);
    expect(answer.statusCode).toBe(405);
    expect(answer.headers.allow).toBe('DELETE, GET, PUT');
    expect(jsonOf(answer).error.code).toBe('METHOD_NOT_ALLOWED');
  });

  it('sweep-expired runs on its scheduled event', async () => {
    const [result] = await invoke('sweep-expired', [readEvent('sweep-expired')]);
    expect(result).toMatchObject({ complete: true });
    expect(typeof result.files).toBe('number');
  });

  it('get-thumbnail renders its sample with the bundled sharp; render-thumbnails renders the eager size', async () => {
    // The image the samples name, stored through upload-object (a Lambda asset of its own).
    const png = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#2e8b57' } })
      .png()
      .toBuffer();
    const put = retarget(readEvent('upload-object'), '/v1/objects/images/logo.png', { visibility: 'public' });
    put.headers = { ...put.headers, 'content-type': 'image/png', 'content-length': String(png.length) };
    put.body = png.toString('base64');
    put.isBase64Encoded = true;
    const [stored] = await invoke('upload-object', [put]);
    expect(stored.statusCode).toBe(201);
    const uploaded = readEvent<{ detail: Record<string, unknown> }>('render-thumbnails');
    const [stale, rendered] = await invoke('render-thumbnails', [
      uploaded,
      { ...uploaded, detail: { ...uploaded.detail, id: jsonOf(stored).id } },
    ]);
    expect([stale, rendered]).toEqual([{ rendered: 0 }, { rendered: 1 }]);
    const [thumbnail] = await invoke('get-thumbnail', [readEvent('get-thumbnail')]);
    expect(thumbnail.statusCode).toBe(200);
    expect(thumbnail.headers['content-type']).toBe('image/webp');
    expect(await sharp(bytesOf(thumbnail)).metadata()).toMatchObject({
      format: 'webp',
      width: 64,
      height: 64,
    });
  });

  describe('with the signing secret in Secrets Manager, as in AWS', () => {
    let server: Server;
    let requests = 0;
    beforeAll(async () => {
      // Stands in for Secrets Manager's GetSecretValue.
      server = createServer((req, res) => {
        requests++;
        req.resume();
        req.on('end', () => {
          res.setHeader('content-type', 'application/x-amz-json-1.1');
          res.end(JSON.stringify({ SecretString: lambdaEnv.SIGNING_SECRET }));
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    });
    afterAll(() => new Promise((r) => server.close(r)));

    it.each([
      [
        'on-object-created',
        (r: unknown) => expect(r).toEqual({ finalized: 0, ignored: 0, rejected: 0, discarded: 1 }),
      ],
      ['get-usage', (r: unknown) => expect(r).toMatchObject({ statusCode: 200 })],
      ['sweep-expired', (r: unknown) => expect(r).toMatchObject({ complete: true })],
    ])('%s reads SIGNING_SECRET from its ARN at cold start (bundled SDK client)', async (fn, check) => {
      const { SIGNING_SECRET: _, ...withoutSecret } = lambdaEnv;
      const before = requests;
      const run = await runBundle(runner, bundles.get(fn) as string, fn, [readEvent(fn)], {
        ...withoutSecret,
        SIGNING_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:signing-AbCdEf',
        AWS_ENDPOINT_URL_SECRETS_MANAGER: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      });
      expect(run.results).toHaveLength(1);
      check(run.results[0]);
      expect(requests - before).toBe(1);
    });
  });

  it('ran every function bundle, each in its own process', () => {
    expect([...runs.keys()].sort()).toEqual([...lambdaFunctions].sort());
    for (const [fn, run] of runs) expect(run.importMs, fn).toBeGreaterThan(0);
  });
});
