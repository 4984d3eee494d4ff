import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readApiError } from '../../shared/http/read-error';
import { rawRequest, rawSocketExchange, type StartedServer, startServer } from '../helpers/local-server';

let server: StartedServer;
let dataDir: string;
let alice: string;
let bob: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'storage-e2e-'));
  server = await startServer(dataDir, {
    SWEEP_INTERVAL: '1',
    MAX_FILE_BYTES: String(1024 * 1024),
    ALLOWED_CONTENT_TYPES: 'text/*,image/*,application/pdf,application/octet-stream,application/json',
  });
  alice = await server.token('acme', 'alice');
  bob = await server.token('globex', 'bob');
});
afterAll(async () => {
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const md5 = (s: string | Buffer) => createHash('md5').update(s).digest('hex');
const objectUrl = (path: string, query = '') =>
  `${server.url}/v1/objects/${path.split('/').map(encodeURIComponent).join('/')}${query}`;
const auth = (token: string, extra: Record<string, string> = {}) => ({
  authorization: `Bearer ${token}`,
  ...extra,
});

async function put(token: string, path: string, body: string | Buffer, query = '', type = 'text/plain') {
  const res = await fetch(objectUrl(path, query), {
    method: 'PUT',
    headers: auth(token, { 'content-type': type }),
    body,
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function errorCode(res: Response | Promise<Response>) {
  const r = await res;
  const error = readApiError(r.status, await r.text(), r.headers);
  // The local server is the service itself: an answer in API Gateway's shape would be a bug here.
  expect(error.source).toBe('service');
  return `${r.status} ${error.code}`;
}

describe('e2e over HTTP against the started local server', () => {
  it('serves /healthz', async () => {
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('upload -> list -> getObject -> download -> preview -> link -> delete -> 404, with a UTF-8 name', async () => {
    const path = 'docs/报告 é 🎉.txt';
    const content = 'quarterly numbers';
    const up = await put(alice, path, content);
    expect(up.status).toBe(201);
    expect(up.json).toMatchObject({
      name: '报告 é 🎉.txt',
      fullName: path,
      size: content.length,
      md5: md5(content),
      type: 'text/plain',
      visibility: 'private',
      status: 'READY',
      uploadUser: 'alice',
    });

    const list = await fetch(`${server.url}/v1/objects?prefix=docs/`, { headers: auth(alice) });
    const page = (await list.json()) as { items: { fullName: string }[]; cursor: string | null };
    expect(page.items.map((i) => i.fullName)).toContain(path);

    const meta = await fetch(`${server.url}/v1/meta/${encodeURI(path)}`, { headers: auth(alice) });
    expect(meta.status).toBe(200);
    const record = (await meta.json()) as Record<string, unknown>;
    for (const field of [
      'id',
      'md5',
      'uid',
      'url',
      'name',
      'size',
      'type',
      'expires',
      'fileName',
      'fullName',
      'uploadTime',
      'uploadUser',
      'updateUserId',
      'storeFullName',
      'retentionPeriod',
      'status',
      'visibility',
    ]) {
      expect(record).toHaveProperty(field);
    }

    const download = await fetch(objectUrl(path), { headers: auth(alice) });
    expect(download.status).toBe(200);
    expect(await download.text()).toBe(content);
    expect(download.headers.get('content-type')).toBe('text/plain');
    expect(download.headers.get('content-length')).toBe(String(content.length));
    expect(download.headers.get('etag')).toBe(`"${md5(content)}"`);
    expect(download.headers.get('content-disposition')).toBe(
      `attachment; filename="?? ? ??.txt"; filename*=UTF-8''${encodeURIComponent('报告 é 🎉.txt')}`,
    );

    const preview = `${server.url}/v1/preview/acme/${encodeURI(path)}`;
    expect(await errorCode(fetch(preview))).toBe('404 NOT_FOUND');

    const link = await fetch(`${server.url}/v1/links`, {
      method: 'POST',
      headers: auth(alice, { 'content-type': 'application/json' }),
      body: JSON.stringify({ path, disposition: 'inline', expiresIn: 60 }),
    });
    expect(link.status).toBe(201);
    const { url } = (await link.json()) as { url: string };
    const viaLink = await fetch(url.replace(/^http:\/\/localhost:\d+/, server.url));
    expect(viaLink.status).toBe(200);
    expect(viaLink.headers.get('content-disposition')).toMatch(/^inline;/);
    expect(viaLink.headers.get('content-security-policy')).toContain('sandbox');
    expect(await viaLink.text()).toBe(content);

    expect((await fetch(objectUrl(path), { method: 'DELETE', headers: auth(alice) })).status).toBe(204);
    expect(await errorCode(fetch(objectUrl(path), { headers: auth(alice) }))).toBe('404 NOT_FOUND');
    expect(await errorCode(fetch(url.replace(/^http:\/\/localhost:\d+/, server.url)))).toBe('404 NOT_FOUND');
    // Deleting again is still 204: the file is gone either way.
    expect((await fetch(objectUrl(path), { method: 'DELETE', headers: auth(alice) })).status).toBe(204);
  });

  it('download supports Range (206, 416) and If-None-Match (304)', async () => {
    await put(alice, 'range.txt', '0123456789');
    const part = await fetch(objectUrl('range.txt'), { headers: auth(alice, { range: 'bytes=2-5' }) });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 2-5/10');
    expect(await part.text()).toBe('2345');
    const tail = await fetch(objectUrl('range.txt'), { headers: auth(alice, { range: 'bytes=-3' }) });
    expect(await tail.text()).toBe('789');
    const outside = await fetch(objectUrl('range.txt'), { headers: auth(alice, { range: 'bytes=10-' }) });
    expect(outside.status).toBe(416);
    expect(outside.headers.get('content-range')).toBe('bytes */10');
    await outside.body?.cancel();
    const cached = await fetch(objectUrl('range.txt'), {
      headers: auth(alice, { 'if-none-match': `"${md5('0123456789')}"` }),
    });
    expect(cached.status).toBe(304);
  });

  it('public files preview without a token; the preview is inline', async () => {
    await put(alice, 'pub/logo.png', 'png bytes', '?visibility=public', 'image/png');
    const res = await fetch(`${server.url}/v1/preview/acme/pub/logo.png`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(res.headers.get('content-disposition')).toBe('inline; filename=logo.png');
    expect(await res.text()).toBe('png bytes');
  });

  it('uploads from a multipart form', async () => {
    const form = new FormData();
    form.set('path', 'forms/note.txt');
    form.set('expires', '3600');
    form.set('file', new Blob(['from a form'], { type: 'text/plain' }), 'ignored.txt');
    const res = await fetch(`${server.url}/v1/objects`, { method: 'POST', headers: auth(alice), body: form });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({
      fullName: 'forms/note.txt',
      size: 11,
      type: 'text/plain',
      retentionPeriod: 3600,
    });
    const noFile = new FormData();
    noFile.set('path', 'x.txt');
    expect(
      await errorCode(
        fetch(`${server.url}/v1/objects`, { method: 'POST', headers: auth(alice), body: noFile }),
      ),
    ).toBe('400 INVALID_REQUEST');
  });

  it('one name, one URL: x%25FF.bin names "x%FF.bin" and round-trips; a malformed escape names nothing', async () => {
    const up = await rawRequest(
      server.url,
      'PUT',
      '/v1/objects/enc/x%25FF.bin',
      auth(alice, { 'content-type': 'text/plain' }),
      'percent',
    );
    expect(up.status).toBe(201);
    expect(up.json).toMatchObject({ fullName: 'enc/x%FF.bin', name: 'x%FF.bin', size: 7 });
    const download = await fetch(objectUrl('enc/x%FF.bin'), { headers: auth(alice) });
    expect(download.status).toBe(200);
    expect(await download.text()).toBe('percent');
    const meta = await rawRequest(server.url, 'GET', '/v1/meta/enc/x%25FF.bin', auth(alice));
    expect(meta.json).toMatchObject({ fullName: 'enc/x%FF.bin' });
    // The spelling with the escape left malformed is not a second URL of the same file.
    const alias = await rawRequest(server.url, 'GET', '/v1/objects/enc/x%FF.bin', auth(alice));
    expect(alias).toEqual({
      status: 400,
      json: { error: { code: 'INVALID_PATH_ENCODING', message: expect.any(String) } },
    });
  });

  it('NFD and NFC spellings of a name are the same file', async () => {
    const nfd = 'nfc/cafe\u0301.txt';
    const nfc = 'nfc/caf\u00e9.txt';
    expect(nfd).not.toBe(nfc);
    const up = await put(alice, nfd, 'accent');
    expect(up.status).toBe(201);
    expect(up.json.fullName).toBe(nfc);
    const download = await fetch(objectUrl(nfc), { headers: auth(alice) });
    expect(download.status).toBe(200);
    expect(await download.text()).toBe('accent');
    const again = await put(alice, nfc, 'replaced');
    expect(again.json.id).not.toBe(up.json.id);
    expect(await (await fetch(objectUrl(nfd), { headers: auth(alice) })).text()).toBe('replaced');
    const list = await fetch(`${server.url}/v1/objects?prefix=nfc/`, { headers: auth(alice) });
    expect(((await list.json()) as { items: { fullName: string }[] }).items.map((i) => i.fullName)).toEqual([
      nfc,
    ]);
  });

  it('direct upload: sign -> PUT to the URL -> complete -> download', async () => {
    const body = 'sent straight to storage';
    const sign = await fetch(`${server.url}/v1/uploads`, {
      method: 'POST',
      headers: auth(alice, { 'content-type': 'application/json' }),
      body: JSON.stringify({
        path: 'direct/d.txt',
        contentType: 'text/plain',
        size: body.length,
        md5: md5(body),
      }),
    });
    expect(sign.status).toBe(201);
    const instructions = (await sign.json()) as {
      uploadId: string;
      url: string;
      method: string;
      headers: Record<string, string>;
    };
    const sent = await fetch(instructions.url.replace(/^http:\/\/localhost:\d+/, server.url), {
      method: instructions.method,
      headers: instructions.headers,
      body,
    });
    expect(sent.status).toBe(200);
    const complete = () =>
      fetch(`${server.url}/v1/uploads/${instructions.uploadId}/complete`, {
        method: 'POST',
        headers: auth(alice),
      });
    const done = await complete();
    expect(done.status).toBe(200);
    expect(await done.json()).toMatchObject({ fullName: 'direct/d.txt', size: body.length, md5: md5(body) });
    expect((await complete()).status).toBe(200);
    expect(await (await fetch(objectUrl('direct/d.txt'), { headers: auth(alice) })).text()).toBe(body);
  });

  it('md5 uploads share one stored blob, reference counted', async () => {
    const body = 'deduplicated content';
    const a = await put(alice, 'dup/a.txt', body, `?md5=${md5(body)}`);
    const b = await put(alice, 'dup/b.txt', body, `?md5=${md5(body)}`);
    expect(a.json.storeFullName).toMatch(new RegExp(`^acme/blobs/${md5(body)}-[0-9a-f]{32}\\.txt$`));
    expect(b.json.storeFullName).toBe(a.json.storeFullName);
    expect((await fetch(objectUrl('dup/a.txt'), { method: 'DELETE', headers: auth(alice) })).status).toBe(
      204,
    );
    expect(await (await fetch(objectUrl('dup/b.txt'), { headers: auth(alice) })).text()).toBe(body);
    expect((await put(alice, 'dup/c.txt', 'other bytes', `?md5=${md5(body)}`)).json).toMatchObject({
      error: { code: 'MD5_MISMATCH' },
    });
  });

  it('quota: an operator sets the limit, uploads over it are 413 QUOTA_EXCEEDED, usage stays exact', async () => {
    const manager = await server.operatorToken();
    const owner = await server.token('tiny', 'tina', 'storage:upload storage:download');
    const set = await fetch(`${server.url}/v1/quota/tiny`, {
      method: 'PUT',
      headers: auth(manager, { 'content-type': 'application/json' }),
      body: JSON.stringify({ limitBytes: 10 }),
    });
    expect(set.status).toBe(200);
    expect((await put(owner, 'a.txt', '123456')).status).toBe(201);
    const over = await put(owner, 'b.txt', '123456');
    expect(over.status).toBe(413);
    expect(over.json).toMatchObject({ error: { code: 'QUOTA_EXCEEDED' } });
    const usage = await (await fetch(`${server.url}/v1/usage`, { headers: auth(owner) })).json();
    expect(usage).toEqual({ tenant: 'tiny', limitBytes: 10, usedBytes: 6, reservedBytes: 0, fileCount: 1 });
    expect(
      await errorCode(
        fetch(`${server.url}/v1/quota/tiny`, {
          method: 'PUT',
          headers: auth(owner, { 'content-type': 'application/json' }),
          body: '{"limitBytes":99}',
        }),
      ),
    ).toBe('403 FORBIDDEN');
    const recalc = await fetch(`${server.url}/v1/usage/recalculate?tenant=tiny`, {
      method: 'POST',
      headers: auth(manager),
    });
    expect(await recalc.json()).toMatchObject({ usedBytes: 6, fileCount: 1, reservedBytes: 0 });
  });

  it('lists the storages without their settings', async () => {
    const res = await fetch(`${server.url}/v1/storages`, { headers: auth(alice) });
    const body = (await res.json()) as { storages: Record<string, unknown>[] };
    expect(body.storages).toEqual([
      { name: 'storages.Default', type: 'local-disk', default: true, capabilities: expect.any(Object) },
    ]);
    expect(JSON.stringify(body)).not.toContain(dataDir);
  });
});

describe('tenant isolation over HTTP', () => {
  beforeAll(async () => {
    await put(alice, 'private/plan.txt', 'acme secret');
  });

  it('another tenant cannot read, list, overwrite, delete or preview the file', async () => {
    expect(await errorCode(fetch(objectUrl('private/plan.txt'), { headers: auth(bob) }))).toBe(
      '404 NOT_FOUND',
    );
    expect(await errorCode(fetch(`${server.url}/v1/meta/private/plan.txt`, { headers: auth(bob) }))).toBe(
      '404 NOT_FOUND',
    );
    const list = (await (await fetch(`${server.url}/v1/objects`, { headers: auth(bob) })).json()) as {
      items: unknown[];
    };
    expect(JSON.stringify(list)).not.toContain('plan.txt');
    // Bob's PUT and DELETE act on Bob's own namespace only.
    expect((await put(bob, 'private/plan.txt', 'bob writes')).status).toBe(201);
    expect(
      (await fetch(objectUrl('private/plan.txt'), { method: 'DELETE', headers: auth(bob) })).status,
    ).toBe(204);
    expect(await (await fetch(objectUrl('private/plan.txt'), { headers: auth(alice) })).text()).toBe(
      'acme secret',
    );
    expect(await errorCode(fetch(`${server.url}/v1/preview/acme/private/plan.txt`))).toBe('404 NOT_FOUND');
    // A link Bob makes for his own file cannot be bent to Alice's tenant.
    await put(bob, 'private/plan.txt', 'bob again');
    const link = await fetch(`${server.url}/v1/links`, {
      method: 'POST',
      headers: auth(bob, { 'content-type': 'application/json' }),
      body: JSON.stringify({ path: 'private/plan.txt' }),
    });
    const { url } = (await link.json()) as { url: string };
    const bent = url
      .replace(/^http:\/\/localhost:\d+/, server.url)
      .replace('/preview/globex/', '/preview/acme/');
    expect(await errorCode(fetch(bent))).toBe('404 NOT_FOUND');
  });
});

describe('auth over HTTP', () => {
  it('401 without a token or with a bad one, 403 without the scope', async () => {
    expect(await errorCode(fetch(`${server.url}/v1/objects`))).toBe('401 UNAUTHORIZED');
    expect(await errorCode(fetch(`${server.url}/v1/objects`, { headers: auth('not.a.token') }))).toBe(
      '401 UNAUTHORIZED',
    );
    const forged = `${alice.slice(0, -4)}AAAA`;
    expect(await errorCode(fetch(`${server.url}/v1/objects`, { headers: auth(forged) }))).toBe(
      '401 UNAUTHORIZED',
    );
    const reader = await server.token('acme', 'reader', 'storage:download');
    expect(
      await errorCode(fetch(objectUrl('x.txt'), { method: 'PUT', headers: auth(reader), body: 'x' })),
    ).toBe('403 FORBIDDEN');
    expect(await errorCode(fetch(objectUrl('x.txt'), { method: 'DELETE', headers: auth(reader) }))).toBe(
      '403 FORBIDDEN',
    );
    const writer = await server.token('acme', 'writer', 'storage:upload');
    expect(await errorCode(fetch(`${server.url}/v1/objects`, { headers: auth(writer) }))).toBe(
      '403 FORBIDDEN',
    );
  });
});

describe('bad input over HTTP: a clear 4xx JSON error, nothing kept', () => {
  const rawPut = (path: string, query = '') =>
    rawRequest(
      server.url,
      'PUT',
      `/v1/objects/${path}${query}`,
      auth(alice, { 'content-type': 'text/plain' }),
      'data',
    );

  it.each([
    ['a/../b.txt', 'PATH_TRAVERSAL'],
    ['a/%2E%2E/b.txt', 'PATH_TRAVERSAL'],
    ['/etc/passwd', 'PATH_ABSOLUTE'],
    ['a%00b.txt', 'PATH_CONTROL_CHARACTER'],
    ['a%0Ab.txt', 'PATH_CONTROL_CHARACTER'],
    ['a%5Cb.txt', 'PATH_BACKSLASH'],
    ['a//b.txt', 'PATH_EMPTY_SEGMENT'],
    [`${'x'.repeat(1025)}`, 'PATH_TOO_LONG'],
  ])('path %s -> 400 %s', async (path, code) => {
    const res = await rawPut(path);
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: { code, message: expect.any(String) } });
  });

  it.each([
    ['x%FF.bin'],
    ['x%.bin'],
    ['x%G1.bin'],
    ['x%F'],
    ['x%C3%28.bin'],
    ['x%C0%AF.bin'],
    ['x%ED%A0%80.bin'],
  ])('path bad/%s (malformed or not UTF-8) -> 400 INVALID_PATH_ENCODING', async (path) => {
    const res = await rawPut(`bad/${path}`);
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: { code: 'INVALID_PATH_ENCODING', message: expect.any(String) } });
  });

  it.each([
    ['?storage=storages.Nope', 400, 'UNKNOWN_STORAGE'],
    ['?expires=-1', 400, 'INVALID_EXPIRES'],
    ['?expires=1.5', 400, 'INVALID_EXPIRES'],
    ['?expires=315360001', 400, 'INVALID_EXPIRES'],
    ['?md5=xyz', 400, 'INVALID_MD5'],
    ['?visibility=world', 400, 'INVALID_REQUEST'],
    ['?onConflict=merge', 400, 'INVALID_REQUEST'],
  ])('query %s -> %i %s', async (query, status, code) => {
    const res = await rawPut('bad-input.txt', query);
    expect(res.status).toBe(status);
    expect(res.json).toMatchObject({ error: { code } });
  });

  it('a type that is not allowed is 415, a file over the limit 413', async () => {
    expect((await put(alice, 'x.sh', '#!/bin/sh', '', 'application/x-sh')).json).toMatchObject({
      error: { code: 'UNSUPPORTED_MEDIA_TYPE' },
    });
    const big = await put(alice, 'big.bin', Buffer.alloc(1024 * 1024 + 1), '', 'application/octet-stream');
    expect(big.status).toBe(413);
    expect(big.json).toMatchObject({ error: { code: 'FILE_TOO_LARGE' } });
  });

  it('malformed JSON is 400 INVALID_JSON, a wrong shape 400 INVALID_REQUEST', async () => {
    const post = (body: string) =>
      fetch(`${server.url}/v1/uploads`, {
        method: 'POST',
        headers: auth(alice, { 'content-type': 'application/json' }),
        body,
      });
    expect(await errorCode(post('{"path":'))).toBe('400 INVALID_JSON');
    expect(await errorCode(post('{"path":"a.txt","size":-1}'))).toBe('400 INVALID_REQUEST');
    expect(await errorCode(post('{"path":"a.txt","size":1,"expires":-3}'))).toBe('400 INVALID_EXPIRES');
  });

  it('none of the rejected uploads left a file or a byte of quota behind', async () => {
    const names = (
      (await (await fetch(`${server.url}/v1/objects?prefix=bad`, { headers: auth(alice) })).json()) as {
        items: unknown[];
      }
    ).items;
    expect(names).toEqual([]);
    const usage = (await (await fetch(`${server.url}/v1/usage`, { headers: auth(alice) })).json()) as {
      reservedBytes: number;
    };
    expect(usage.reservedBytes).toBe(0);
  });

  it('unknown routes are 404 JSON, wrong methods 405 with Allow (the $default function of AWS)', async () => {
    expect(await errorCode(fetch(`${server.url}/v2/nothing`))).toBe('404 NOT_FOUND');
    expect(await errorCode(fetch(`${server.url}/v1/usage`, { method: 'DELETE' }))).toBe(
      '405 METHOD_NOT_ALLOWED',
    );
    // Before any token check, as in AWS, where $default has no authorizer.
    const patch = await fetch(objectUrl('docs/x.txt'), { method: 'PATCH', body: 'ignored' });
    expect(patch.headers.get('allow')).toBe('DELETE, GET, PUT');
    expect(await errorCode(patch)).toBe('405 METHOD_NOT_ALLOWED');
  });

  it("answers what Node's HTTP parser refuses in the service's JSON too", async () => {
    const garbage = await rawSocketExchange(server.url, 'NOT HTTP AT ALL\r\n\r\n');
    expect(garbage.status).toBe(400);
    expect(garbage.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(garbage.body)).toEqual({
      error: { code: 'MALFORMED_REQUEST', message: expect.any(String) },
    });

    const huge = `GET /v1/usage HTTP/1.1\r\nhost: x\r\nx-filler: ${'a'.repeat(20 * 1024)}\r\n\r\n`;
    const tooLarge = await rawSocketExchange(server.url, huge);
    expect(tooLarge.status).toBe(431);
    expect(tooLarge.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(tooLarge.headers['content-length']).toBe(String(Buffer.byteLength(tooLarge.body)));
    expect(readApiError(tooLarge.status, tooLarge.body)).toMatchObject({
      code: 'HEADERS_TOO_LARGE',
      source: 'service',
    });
    // The server still serves the next connection.
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});

describe('expiry over HTTP', () => {
  it('an expired file answers 404 at access', async () => {
    expect((await put(alice, 'exp/at-access.txt', 'bye', '?expires=1')).status).toBe(201);
    await new Promise((r) => setTimeout(r, 1200));
    expect(await errorCode(fetch(objectUrl('exp/at-access.txt'), { headers: auth(alice) }))).toBe(
      '404 NOT_FOUND',
    );
  });

  it('the sweeper removes an expired file nobody reads, and its quota', async () => {
    const sweeper = await server.token('sweepme', 'sam');
    expect((await put(sweeper, 'gone.txt', 'nobody reads me', '?expires=1')).status).toBe(201);
    let usage = { fileCount: 1, usedBytes: 1 };
    for (let i = 0; i < 40 && usage.fileCount > 0; i++) {
      await new Promise((r) => setTimeout(r, 250));
      usage = (await (
        await fetch(`${server.url}/v1/usage`, { headers: auth(sweeper) })
      ).json()) as typeof usage;
    }
    expect(usage).toMatchObject({ fileCount: 0, usedBytes: 0 });
  });
});
