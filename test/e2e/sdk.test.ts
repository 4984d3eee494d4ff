import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pageBytes, sha256 } from '../helpers/browser-upload';
import { type StartedServer, startServer } from '../helpers/local-server';

/**
 * The TypeScript SDK (client/) against the server `npm start` runs: every method, the upload
 * strategies (through the API, one direct request, parallel parts), progress, abort, a part
 * retried, a resumed upload and the typed errors. One server serves both storages: local disk
 * (`storages.Default`, picked with the client's `storage` option) and the S3 emulator (its
 * default, where downloads answer 302 to a presigned GET). What is tested is the build in
 * client/dist, the artifact a consumer imports.
 */
type Sdk = typeof import('../../client/dist/index.js');
type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const MiB = 1024 * 1024;

/** Builds client/dist unless every file of client/src has an up-to-date build. */
async function ensureClientBuilt() {
  const src = join(root, 'client', 'src');
  const current = readdirSync(src).every((name) => {
    const built = join(root, 'client', 'dist', name.replace(/\.ts$/, '.js'));
    return existsSync(built) && statSync(built).mtimeMs >= statSync(join(src, name)).mtimeMs;
  });
  if (!current) await run('npm', ['run', '--silent', 'build:client'], { cwd: root });
}

/** Deterministic bytes with a text head, so no magic-byte sniffing ever takes them for a known type. */
function testBytes(size: number, seed: number): Uint8Array {
  const page = pageBytes(size, seed);
  // A plain Uint8Array, as the SDK hands bytes back (a Buffer would not equal one).
  const bytes = new Uint8Array(page.buffer, page.byteOffset, size);
  bytes.set(new TextEncoder().encode('sdk test data\n').subarray(0, size));
  return bytes;
}

const md5 = (bytes: Uint8Array | string) => createHash('md5').update(bytes).digest('hex');

/** The part number of a part PUT to a presigned URL (S3: partNumber, local disk: part), else undefined. */
function partOf(url: string, init?: RequestInit): number | undefined {
  if (init?.method !== 'PUT') return undefined;
  const query = new URL(url).searchParams;
  const n = query.get('partNumber') ?? query.get('part');
  return n === null ? undefined : Number(n);
}

/** A progress recorder: asserts every report is in order and the last one is 100%. */
function progressLog() {
  const seen: { loaded: number; total: number }[] = [];
  return {
    seen,
    onProgress: (p: { loaded: number; total: number }) => seen.push(p),
    expectComplete(total: number) {
      expect(seen.length).toBeGreaterThan(1);
      for (let i = 1; i < seen.length; i++) {
        expect(seen[i]?.loaded).toBeGreaterThan(seen[i - 1]?.loaded ?? -1);
      }
      expect(seen.every((p) => p.total === total && p.loaded <= total)).toBe(true);
      expect(seen.at(-1)).toEqual({ loaded: total, total });
    },
  };
}

/** The StorageApiError a promise rejects with. */
async function failure(promise: Promise<unknown>): Promise<InstanceType<Sdk['StorageApiError']>> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(sdk.StorageApiError);
  return error as InstanceType<Sdk['StorageApiError']>;
}

let sdk: Sdk;
let server: StartedServer;
let emulator = '';
const dirs: string[] = [];

beforeAll(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'storage-e2e-sdk-'));
  dirs.push(dataDir);
  [, server] = await Promise.all([
    ensureClientBuilt(),
    startServer(dataDir, {
      STORAGE_EMULATOR: 's3',
      SWEEP_INTERVAL: '0',
      // 6 MiB files get a multipart plan of 5 MiB parts, so multipart uploads stay small here.
      MULTIPART_THRESHOLD_BYTES: String(5 * MiB),
      // Multipart files above 8 MiB with an md5 are verified asynchronously: complete answers 202.
      VERIFY_INLINE_BYTES: String(8 * MiB),
      ALLOWED_CONTENT_TYPES: 'text/*,image/*,application/octet-stream,application/json',
    }),
  ]);
  sdk = await import('../../client/dist/index.js');
  emulator = /Storage emulator \(s3\) on (http:\/\/127\.0\.0\.1:\d+)/.exec(server.output())?.[1] ?? '';
  expect(emulator, server.output()).not.toBe('');
});

afterAll(async () => {
  if (server) expect(await server.stop()).toBe(0);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A client of a tenant; local disk unless `storage` says otherwise. */
async function clientOf(
  tenant: string,
  options: Partial<ConstructorParameters<Sdk['StorageClient']>[0]> = {},
) {
  return new sdk.StorageClient({
    baseUrl: server.url,
    token: await server.token(tenant, `${tenant}-user`),
    storage: 'storages.Default',
    retryDelayMs: 20,
    pollIntervalMs: 100,
    ...options,
  });
}

describe('the SDK against local disk (storages.Default)', () => {
  it('uploads through the API (string, bytes, ArrayBuffer, Blob) and reads back with every read method', async () => {
    const client = await clientOf('sdk-local');
    const path = 'docs/100% café #1?.txt';
    const text = 'hello from the SDK\n';
    const progress = progressLog();
    const file = await client.uploadByFile(path, text, {
      contentType: 'text/plain',
      md5: md5(text),
      visibility: 'public',
      expires: 3600,
      onProgress: progress.onProgress,
    });
    progress.expectComplete(text.length);
    expect(file).toMatchObject({
      fullName: path,
      size: text.length,
      type: 'text/plain',
      md5: md5(text),
      visibility: 'public',
      status: 'READY',
      storage: 'storages.Default',
    });
    expect(file.expires).not.toBeNull();
    expect(await client.getObject(path)).toMatchObject({ id: file.id, fullName: path });

    const bytes = testBytes(3000, 7);
    const fromBuffer = await client.uploadByFile('bin/a.bin', Buffer.from(bytes));
    const fromArrayBuffer = await client.uploadByFile('bin/b.bin', bytes.slice().buffer);
    const fromBlob = await client.uploadByFile('bin/c.bin', new Blob([bytes], { type: 'application/json' }));
    expect([fromBuffer.md5, fromArrayBuffer.md5, fromBlob.md5]).toEqual([md5(bytes), md5(bytes), md5(bytes)]);
    expect([fromBuffer.type, fromBlob.type]).toEqual(['application/octet-stream', 'application/json']);

    // download: bytes, a range, a stream
    expect(new TextDecoder().decode(await client.download(path))).toBe(text);
    expect(sha256(await client.download('bin/b.bin'))).toBe(sha256(bytes));
    expect(await client.download('bin/a.bin', { range: { start: 10, end: 19 } })).toEqual(
      bytes.slice(10, 20),
    );
    expect(await client.download('bin/a.bin', { range: { start: 2990 } })).toEqual(bytes.slice(2990));
    const stream = await client.download('bin/c.bin', { stream: true });
    expect(stream).toBeInstanceOf(ReadableStream);
    expect(sha256(new Uint8Array(await new Response(stream).arrayBuffer()))).toBe(sha256(bytes));

    // list: an async iterator over pages, in path order
    const pages: string[][] = [];
    for await (const page of client.list({ prefix: 'bin/', limit: 2 })) {
      pages.push(page.items.map((i) => i.fullName));
    }
    expect(pages.flat()).toEqual(['bin/a.bin', 'bin/b.bin', 'bin/c.bin']);
    expect(pages[0]).toHaveLength(2);
    const all: string[] = [];
    for await (const page of client.list()) all.push(...page.items.map((i) => i.fullName));
    expect(all).toEqual(['bin/a.bin', 'bin/b.bin', 'bin/c.bin', path]);
    // A folder listing: the files of the level, and its sub-folders.
    const level: { items: string[]; prefixes: string[] } = { items: [], prefixes: [] };
    for await (const page of client.list({ delimiter: '/', limit: 1 })) {
      level.items.push(...page.items.map((i) => i.fullName));
      level.prefixes.push(...(page.prefixes ?? []));
    }
    expect(level).toEqual({ items: [], prefixes: ['bin/', 'docs/'] });

    expect(await client.usage()).toMatchObject({
      tenant: 'sdk-local',
      fileCount: 4,
      usedBytes: text.length + 3 * 3000,
      reservedBytes: 0,
    });

    // delete: the file is gone, and deleting again is fine
    await client.delete('bin/c.bin');
    expect((await failure(client.getObject('bin/c.bin'))).code).toBe('NOT_FOUND');
    await client.delete('bin/c.bin');
  });

  it('preview, previewThumbnail and createLink give signed URLs that open private files without a token', async () => {
    const client = await clientOf('sdk-links');
    await client.uploadByFile('notes/private.txt', 'for your eyes only', { contentType: 'text/plain' });
    const picture = await sharp({ create: { width: 200, height: 100, channels: 3, background: '#3060c0' } })
      .png()
      .toBuffer();
    await client.uploadByFile('pics/wide.png', picture, { contentType: 'image/png' });

    const preview = await client.preview('notes/private.txt', { expiresIn: 120 });
    expect(Date.parse(preview.expiresAt)).toBeGreaterThan(Date.now());
    const shown = await fetch(preview.url);
    expect(shown.status).toBe(200);
    expect(shown.headers.get('content-disposition')).toMatch(/^inline/);
    expect(await shown.text()).toBe('for your eyes only');

    const attachment = await client.createLink('notes/private.txt', { disposition: 'attachment' });
    const downloaded = await fetch(attachment.url);
    expect(downloaded.headers.get('content-disposition')).toMatch(/^attachment/);
    await downloaded.body?.cancel();

    const thumb = await client.previewThumbnail('pics/wide.png', { width: 64, height: 64, format: 'png' });
    const rendered = await fetch(thumb.url);
    expect(rendered.status).toBe(200);
    expect(rendered.headers.get('content-type')).toBe('image/png');
    expect(await sharp(Buffer.from(await rendered.arrayBuffer())).metadata()).toMatchObject({
      format: 'png',
      width: 64,
      height: 64,
    });
    // The link opens exactly the thumbnail it was made for.
    const other = new URL(thumb.url);
    other.searchParams.set('width', '65');
    expect((await fetch(other)).status).toBe(404);
    expect((await failure(client.preview('notes/none.txt'))).code).toBe('NOT_FOUND');
  });

  it('a direct upload in one request; getSignUrl, getUpload and abortUpload', async () => {
    const client = await clientOf('sdk-direct');
    const bytes = testBytes(200_000, 3);
    const progress = progressLog();
    let uploadId = '';
    const file = await client.uploadByFile('direct/one.bin', bytes, {
      direct: true,
      onProgress: progress.onProgress,
      onUploadId: (id) => {
        uploadId = id;
      },
    });
    progress.expectComplete(bytes.length);
    expect(file).toMatchObject({ id: uploadId, size: bytes.length, md5: md5(bytes) });
    expect(await client.getUpload(uploadId)).toMatchObject({
      status: 'READY',
      mode: 'single',
      file: { id: file.id },
    });
    expect(sha256(await client.download('direct/one.bin'))).toBe(sha256(bytes));

    // getSignUrl reserves the size until the upload completes or is aborted.
    const signed = await client.getSignUrl('direct/later.bin', { size: 12_345, contentType: 'text/plain' });
    expect(signed).toMatchObject({
      mode: 'single',
      method: 'PUT',
      headers: { 'content-type': 'text/plain' },
    });
    expect(await client.getUpload(signed.uploadId)).toMatchObject({ status: 'PENDING', size: 12_345 });
    expect((await client.usage()).reservedBytes).toBe(12_345);
    await client.abortUpload(signed.uploadId);
    expect((await client.usage()).reservedBytes).toBe(0);
    expect((await failure(client.getUpload(signed.uploadId))).code).toBe('UPLOAD_NOT_FOUND');

    // ...and the parts of a plan can be driven by hand: signParts, listParts, completeUpload.
    const plan = await client.getSignUrl('direct/by-hand.txt', { size: 11, multipart: true });
    expect(plan).toMatchObject({ mode: 'multipart', parts: 1, partSize: 5 * MiB });
    const [part] = await client.signParts(plan.uploadId, [1]);
    const put = await fetch(part?.url ?? '', { method: 'PUT', headers: part?.headers, body: 'eleven byte' });
    expect(put.status).toBe(200);
    const listed = await client.listParts(plan.uploadId);
    expect(listed.uploaded).toEqual([{ partNumber: 1, size: 11, etag: put.headers.get('etag') }]);
    const done = await client.completeUpload(plan.uploadId, [
      { partNumber: 1, etag: listed.uploaded[0]?.etag },
    ]);
    expect(done).toMatchObject({ fullName: 'direct/by-hand.txt', size: 11, md5: md5('eleven byte') });
  });

  it('multipart: parts in parallel, a failed part retried, progress to 100%, 202 VERIFYING polled', async () => {
    const bytes = testBytes(12 * MiB + 123, 11);
    const puts: number[] = [];
    let signCalls = 0;
    let polls = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    let failed = false;
    const flaky: FetchLike = async (url, init) => {
      const part = partOf(url, init);
      const { pathname } = new URL(url);
      if (init?.method === 'POST' && pathname.endsWith('/parts')) signCalls++;
      if (init?.method === 'GET' && /^\/v1\/uploads\/\w+$/.test(pathname)) polls++;
      if (part === undefined) return fetch(url, init);
      puts.push(part);
      // The first PUT of part 2 gets a 503 from "the storage": the SDK must send it again.
      if (part === 2 && !failed) {
        failed = true;
        return new Response('<Error><Code>SlowDown</Code></Error>', { status: 503 });
      }
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      try {
        return await fetch(url, init);
      } finally {
        inFlight--;
      }
    };
    const client = await clientOf('sdk-multipart', { fetch: flaky });
    const progress = progressLog();
    // With an md5 above VERIFY_INLINE_BYTES the service reads the file after complete (202), the SDK polls.
    const file = await client.uploadByFile('big/file.bin', bytes, {
      multipart: true,
      md5: md5(bytes),
      onProgress: progress.onProgress,
    });
    progress.expectComplete(bytes.length);
    expect(puts.sort()).toEqual([1, 2, 2, 3]);
    expect(maxInFlight).toBeGreaterThan(1);
    expect(signCalls).toBe(1); // one batch signs every part
    expect(polls).toBeGreaterThan(0);
    expect(file).toMatchObject({ fullName: 'big/file.bin', size: bytes.length, md5: md5(bytes) });
    expect(sha256(await client.download('big/file.bin'))).toBe(sha256(bytes));
    expect(await client.usage()).toMatchObject({ usedBytes: bytes.length, reservedBytes: 0 });

    // The asynchronous verification refuses a wrong md5: the poll's FAILED is thrown as its code.
    const refused = await failure(
      client.uploadByFile('big/wrong.bin', bytes, { multipart: true, md5: md5('something else') }),
    );
    expect(refused).toMatchObject({ status: 400, code: 'MD5_MISMATCH', source: 'service' });
    expect((await failure(client.getObject('big/wrong.bin'))).code).toBe('NOT_FOUND');
    expect(await client.usage()).toMatchObject({ usedBytes: bytes.length, reservedBytes: 0, fileCount: 1 });
  });

  it('abort: the signal stops the request in flight, the upload is aborted and its reservation released', async () => {
    const tokenClient = await clientOf('sdk-abort');
    await tokenClient.uploadByFile('keep.txt', 'already here');
    const before = await tokenClient.usage();
    const controller = new AbortController();
    let inFlightAborted = false;
    const slow: FetchLike = async (url, init) => {
      if (partOf(url, init) === 2) {
        // Part 2 hangs on "a slow network" until the caller aborts.
        setTimeout(() => controller.abort(), 50);
        await new Promise((_, reject) =>
          init?.signal?.addEventListener('abort', () => {
            inFlightAborted = true;
            reject(init.signal?.reason);
          }),
        );
      }
      return fetch(url, init);
    };
    const client = await clientOf('sdk-abort', { fetch: slow, partConcurrency: 1 });
    let uploadId = '';
    const error = await client
      .uploadByFile('big/aborted.bin', testBytes(11 * MiB, 5), {
        multipart: true,
        signal: controller.signal,
        onUploadId: (id) => {
          uploadId = id;
        },
      })
      .catch((e: unknown) => e);
    expect((error as Error).name).toBe('AbortError');
    expect(inFlightAborted).toBe(true);
    expect(uploadId).not.toBe('');
    expect((await failure(client.getUpload(uploadId))).code).toBe('UPLOAD_NOT_FOUND');
    expect((await failure(client.getObject('big/aborted.bin'))).code).toBe('NOT_FOUND');
    expect(await client.usage()).toEqual(before);

    // An upload through the API with a signal aborted already sends nothing.
    const gone = new AbortController();
    gone.abort();
    const early = await client
      .uploadByFile('small.txt', 'x', { signal: gone.signal })
      .catch((e: unknown) => e);
    expect((early as Error).name).toBe('AbortError');
    expect(await client.usage()).toEqual(before);

    // Aborted while the service is still answering the plan: the reservation it made is ended
    // too (the plan's answer is awaited for its id, then the upload is aborted on the service).
    const planning = new AbortController();
    const slowPlan: FetchLike = async (url, init) => {
      if (new URL(String(url)).pathname === '/v1/uploads' && init?.method === 'POST') {
        const answer = await fetch(url, init);
        planning.abort();
        return answer;
      }
      return fetch(url, init);
    };
    const planned = await clientOf('sdk-abort', { fetch: slowPlan });
    const midPlan = await planned
      .uploadByFile('big/mid-plan.bin', testBytes(6 * MiB, 9), { direct: true, signal: planning.signal })
      .catch((e: unknown) => e);
    expect((midPlan as Error).name).toBe('AbortError');
    expect(await client.usage()).toEqual(before);
  });

  it('resume: an upload that failed after some parts is finished with only the missing parts', async () => {
    const bytes = testBytes(16 * MiB, 23); // parts 1-3 of 5 MiB, part 4 of 1 MiB
    // First run: the storage refuses parts 3 and 4 for good (one try each, one part at a time).
    const broken: FetchLike = async (url, init) => {
      const part = partOf(url, init);
      if (part !== undefined && part >= 3) return new Response('unavailable', { status: 503 });
      return fetch(url, init);
    };
    const first = await clientOf('sdk-resume', { fetch: broken, partConcurrency: 1, partAttempts: 1 });
    let uploadId = '';
    const error = await failure(
      first.uploadByFile('big/resumed.bin', bytes, {
        multipart: true,
        onUploadId: (id) => {
          uploadId = id;
        },
      }),
    );
    expect(error).toMatchObject({ status: 503, source: 'storage' });
    // Kept for a resume (the caller has its id): parts 1 and 2 are stored.
    expect(await first.getUpload(uploadId)).toMatchObject({ status: 'PENDING', mode: 'multipart', parts: 4 });
    expect((await first.listParts(uploadId)).uploaded.map((p) => p.partNumber)).toEqual([1, 2]);
    expect((await first.usage()).reservedBytes).toBe(bytes.length);

    const sent: number[] = [];
    const counting: FetchLike = (url, init) => {
      const part = partOf(url, init);
      if (part !== undefined) sent.push(part);
      return fetch(url, init);
    };
    const second = await clientOf('sdk-resume', { fetch: counting });
    const progress = progressLog();
    const file = await second.uploadByFile('big/resumed.bin', new Blob([bytes]), {
      resume: uploadId,
      onProgress: progress.onProgress,
    });
    expect(sent.sort()).toEqual([3, 4]);
    expect(progress.seen[0]).toEqual({ loaded: 10 * MiB, total: bytes.length });
    progress.expectComplete(bytes.length);
    // Above VERIFY_INLINE_BYTES without an md5, the service relies on the parts' checksums: no md5.
    expect(file).toMatchObject({ id: uploadId, size: bytes.length });
    expect(sha256(await second.download('big/resumed.bin'))).toBe(sha256(bytes));
    expect(await second.usage()).toMatchObject({ usedBytes: bytes.length, reservedBytes: 0, fileCount: 1 });
    // Resuming a finished upload answers its file.
    expect(await second.uploadByFile('big/resumed.bin', bytes, { resume: uploadId })).toMatchObject({
      id: uploadId,
    });
  });
});

describe('typed errors', () => {
  it('401, 403, 404, 409, 413 and 415 from the service carry its codes', async () => {
    const client = await clientOf('sdk-errors');
    await client.uploadByFile('taken.txt', 'first', { contentType: 'text/plain' });

    const bad = new sdk.StorageClient({ baseUrl: server.url, token: 'not-a-token' });
    expect(await failure(bad.usage())).toMatchObject({
      status: 401,
      code: 'UNAUTHORIZED',
      source: 'service',
    });
    const none = new sdk.StorageClient({ baseUrl: server.url });
    expect(await failure(none.getObject('taken.txt'))).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });

    const readOnly = new sdk.StorageClient({
      baseUrl: server.url,
      storage: 'storages.Default',
      getToken: () => server.token('sdk-errors', 'reader', 'storage:download'),
    });
    expect(await readOnly.getObject('taken.txt')).toMatchObject({ fullName: 'taken.txt' });
    expect(await failure(readOnly.uploadByFile('x.txt', 'x'))).toMatchObject({
      status: 403,
      code: 'FORBIDDEN',
    });
    expect(await failure(readOnly.delete('taken.txt'))).toMatchObject({ status: 403, code: 'FORBIDDEN' });

    expect(await failure(client.getObject('missing.txt'))).toMatchObject({ status: 404, code: 'NOT_FOUND' });
    expect(await failure(client.download('missing.txt'))).toMatchObject({ status: 404, code: 'NOT_FOUND' });

    const conflict = await failure(client.uploadByFile('taken.txt', 'second', { onConflict: 'fail' }));
    expect(conflict).toMatchObject({ status: 409, code: 'ALREADY_EXISTS', source: 'service' });
    expect(conflict.message).toMatch(/exists/);
    expect(
      await failure(client.uploadByFile('taken.txt', 'second', { onConflict: 'fail', direct: true })),
    ).toMatchObject({ status: 409, code: 'ALREADY_EXISTS' });
    const renamed = await client.uploadByFile('taken.txt', 'second', { onConflict: 'rename' });
    expect(renamed.fullName).toMatch(/^taken_\d{8}_\d{6}_[0-9a-f]{8}\.txt$/);

    expect(
      await failure(client.uploadByFile('tool.exe', 'MZ', { contentType: 'application/x-msdownload' })),
    ).toMatchObject({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' });

    // 413: an operator gives the tenant 1000 bytes; neither upload path may pass it.
    const tight = await clientOf('sdk-tight');
    const quota = await fetch(`${server.url}/v1/quota/sdk-tight`, {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${await server.operatorToken()}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ limitBytes: 1000 }),
    });
    expect(quota.status).toBe(200);
    const big = testBytes(2000, 1);
    expect(await failure(tight.uploadByFile('big.bin', big))).toMatchObject({
      status: 413,
      code: 'QUOTA_EXCEEDED',
    });
    expect(await failure(tight.uploadByFile('big.bin', big, { direct: true }))).toMatchObject({
      status: 413,
      code: 'QUOTA_EXCEEDED',
    });
    expect(await tight.usage()).toMatchObject({ limitBytes: 1000, usedBytes: 0, reservedBytes: 0 });
    expect(sdk.errorCodes.QUOTA_EXCEEDED).toBe(413);
  });

  it("API Gateway's own answers ({message}) get the service's codes", async () => {
    const answers: Record<string, [number, string, Record<string, string>?]> = {
      '/v1/usage': [401, '{"message":"Unauthorized"}'],
      '/v1/meta/a': [403, '{"message":"Forbidden"}'],
      '/v1/objects': [429, '{"message":"Too Many Requests"}'],
      '/v1/uploads': [413, '{"message":"Request Entity Too Large"}'],
      '/v1/links': [504, '{"message":"Endpoint request timed out"}', { 'retry-after': '7' }],
    };
    const gateway: FetchLike = async (url) => {
      const [status, body, headers] = answers[new URL(url).pathname] ?? [500, 'no'];
      return new Response(body, { status, headers: { 'content-type': 'application/json', ...headers } });
    };
    const client = new sdk.StorageClient({ baseUrl: 'https://api.example.com', token: 't', fetch: gateway });
    const source = 'gateway';
    expect(await failure(client.usage())).toMatchObject({
      status: 401,
      code: 'UNAUTHORIZED',
      message: 'Unauthorized',
      source,
    });
    expect(await failure(client.getObject('a'))).toMatchObject({ status: 403, code: 'FORBIDDEN', source });
    const throttled = await failure(client.list().next());
    expect(throttled).toMatchObject({ status: 429, code: 'THROTTLED', retryAfterSeconds: 1, source });
    expect(await failure(client.getSignUrl('a', { size: 1 }))).toMatchObject({ code: 'FILE_TOO_LARGE' });
    expect(await failure(client.preview('a'))).toMatchObject({ code: 'SERVICE_BUSY', retryAfterSeconds: 7 });
    expect(throttled).toBeInstanceOf(Error);
    expect(sdk.isStorageApiError(throttled)).toBe(true);
  });
});

describe('the SDK against the S3 emulator (the default storage)', () => {
  it('a direct upload in one request (POST policy), a multipart upload, downloads through the 302', async () => {
    const redirectedTo: string[] = [];
    const toBucket: string[] = [];
    const watch: FetchLike = async (url, init) => {
      if (url.startsWith(emulator)) toBucket.push(`${init?.method} ${init?.body?.constructor.name}`);
      const response = await fetch(url, init);
      if (response.redirected) redirectedTo.push(response.url);
      return response;
    };
    // Bodies over 1 KiB go straight to the bucket.
    const client = await clientOf('sdk-s3', { storage: undefined, fetch: watch, apiUploadMaxBytes: 1024 });

    const small = testBytes(100_000, 2);
    const progress = progressLog();
    const single = await client.uploadByFile('s3/single.bin', small, { onProgress: progress.onProgress });
    progress.expectComplete(small.length);
    expect(single).toMatchObject({ storage: 'storages.S3Emulator', size: small.length, md5: md5(small) });
    expect(toBucket).toEqual(['POST FormData']); // the bucket's POST policy, the file after its fields

    const large = testBytes(6 * MiB + 5, 4);
    const parts: number[] = [];
    const multiProgress = progressLog();
    const counting = await clientOf('sdk-s3', {
      storage: undefined,
      fetch: (url, init) => {
        const part = partOf(url, init);
        if (part !== undefined) parts.push(part);
        return watch(url, init);
      },
    });
    const multi = await counting.uploadByFile('s3/multi.bin', large, {
      onProgress: multiProgress.onProgress,
    });
    multiProgress.expectComplete(large.length);
    expect(parts.sort()).toEqual([1, 2]);
    expect(multi).toMatchObject({ storage: 'storages.S3Emulator', size: large.length, md5: md5(large) });

    expect(sha256(await client.download('s3/single.bin'))).toBe(sha256(small));
    expect(sha256(await client.download('s3/multi.bin'))).toBe(sha256(large));
    expect(await client.download('s3/multi.bin', { range: { start: 5 * MiB, end: 5 * MiB + 9 } })).toEqual(
      large.slice(5 * MiB, 5 * MiB + 10),
    );
    expect(redirectedTo).toHaveLength(3);
    expect(redirectedTo.every((u) => u.startsWith(emulator))).toBe(true);
    expect((await failure(client.download('s3/none.bin'))).code).toBe('NOT_FOUND');
    expect(await client.usage()).toMatchObject({ fileCount: 2, reservedBytes: 0 });
  });

  it('examples/upload-and-share.ts runs against the server', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/upload-and-share.ts'], {
      cwd: root,
      env: {
        ...process.env,
        STORAGE_API_URL: server.url,
        STORAGE_TOKEN: await server.token('sdk-example', 'alice'),
      },
    });
    expect(stdout).toContain('progress 30/30');
    expect(stdout).toContain('uploaded examples/hello.txt: 30 bytes, text/plain');
    expect(stdout).toContain('listed examples/hello.txt (30 bytes)');
    expect(stdout).toMatch(
      /preview http:\/\/(localhost|127\.0\.0\.1):\d+\/v1\/preview\/sdk-example\/examples\/hello\.txt\?/,
    );
    expect(stdout).toContain('downloaded 30 bytes: identical');
  });
});
