import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AzuriteEmulator,
  type S3Emulator,
  startAzurite,
  startS3rver,
} from '../../infra/local/emulators';
import type { PresignedUpload } from '../../shared/backends/contract';
import { type StartedServer, startServer } from '../helpers/local-server';
import { type OssServer, startOssServer } from '../helpers/oss-server';
import { sendUpload } from '../integration/backend-contract';

/**
 * The spine's flow over HTTP through the started local server, once per backend type, each
 * selected with `?storage=`: local disk, S3 and MinIO (s3rver), Azure Blob (Azurite) and Aliyun
 * OSS (the OSS test server). The server builds its adapters from STORAGES like any deployment, so
 * the S3 emulator here accepts mismatched signatures (see startS3rver); Azurite and the OSS server
 * check every signature.
 */
let server: StartedServer;
let s3: S3Emulator;
let azurite: AzuriteEmulator;
let oss: OssServer;
let dataDir: string;
let token: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'storage-e2e-backends-'));
  [s3, azurite, oss] = await Promise.all([
    startS3rver({ directory: join(dataDir, 's3rver'), bucket: 'e2e', allowMismatchedSignatures: true }),
    startAzurite({ location: join(dataDir, 'azurite'), container: 'e2e' }),
    startOssServer({
      bucket: 'e2e',
      accessKeyId: 'oss-key',
      accessKeySecret: 'oss-secret',
      region: 'cn-hangzhou',
    }),
  ]);
  const storages = {
    'storages.Default': { type: 'local-disk', root: join(dataDir, 'objects') },
    'storages.S3': {
      type: 's3',
      bucketName: s3.bucket,
      region: 'us-east-1',
      endPoint: s3.endpoint,
      allowHttp: true,
      accessKeyId: s3.accessKeyId,
      accessKeySecret: s3.accessKeySecret,
      pathStyle: true,
    },
    'storages.Minio': {
      type: 'minio',
      bucketName: s3.bucket,
      endPoint: s3.endpoint,
      allowHttp: true,
      accessKeyId: s3.accessKeyId,
      accessKeySecret: s3.accessKeySecret,
      uploadMethod: 'PUT',
    },
    'storages.Azure': {
      type: 'azure-blob',
      accessKeyId: azurite.accountName,
      accessKeySecret: azurite.accountKey,
      bucketName: azurite.container,
      endPoint: azurite.endpoint,
      allowHttp: true,
    },
    'storages.Oss': {
      type: 'aliyun-oss',
      region: 'oss-cn-hangzhou',
      bucketName: 'e2e',
      accessKeyId: 'oss-key',
      accessKeySecret: 'oss-secret',
      endPoint: oss.endpoint,
      allowHttp: true,
      cname: true,
    },
  };
  server = await startServer(dataDir, { SWEEP_INTERVAL: '1', STORAGES: JSON.stringify(storages) });
  token = await server.token('multi', 'mo');
});

afterAll(async () => {
  await server?.stop();
  await Promise.all([s3?.stop(), azurite?.stop(), oss?.stop()]);
  rmSync(dataDir, { recursive: true, force: true });
});

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const auth = (extra: Record<string, string> = {}) => ({ authorization: `Bearer ${token}`, ...extra });
const objectUrl = (path: string, storage: string, query = '') =>
  `${server.url}/v1/objects/${path.split('/').map(encodeURIComponent).join('/')}?storage=${storage}${query}`;
/** URLs the service hands out name the public base URL (localhost:port): reach it as this test does. */
const reachable = (url: string) => url.replace(/^http:\/\/localhost:\d+\/_local\//, `${server.url}/_local/`);

const cases = [
  ['storages.Default', 'local-disk'],
  ['storages.S3', 's3'],
  ['storages.Minio', 'minio'],
  ['storages.Azure', 'azure-blob'],
  ['storages.Oss', 'aliyun-oss'],
] as const;

/** Download as a browser would, redirect included; also answers where the bytes came from. */
async function download(path: string, storage: string) {
  const first = await fetch(objectUrl(path, storage), { headers: auth(), redirect: 'manual' });
  if (first.status !== 302) return { res: first, location: undefined };
  expect(first.headers.get('cache-control')).toBe('no-store');
  const location = first.headers.get('location') as string;
  return { res: await fetch(location), location };
}

describe('e2e per backend type, selected with ?storage=', () => {
  it('lists every configured storage with its type', async () => {
    const res = await fetch(`${server.url}/v1/storages`, { headers: auth() });
    const body = (await res.json()) as { storages: { name: string; type: string }[] };
    expect(body.storages.map((s) => [s.name, s.type])).toEqual(cases.map(([n, t]) => [n, t]));
    expect(JSON.stringify(body)).not.toContain(azurite.accountKey);
  });

  it.each(cases)(
    '%s (%s): upload -> getObject -> download -> direct upload -> delete',
    async (storage, type) => {
      const path = `flow/${type}/报告 é.txt`;
      const content = `bytes kept by ${type}`;
      const up = await fetch(objectUrl(path, storage), {
        method: 'PUT',
        headers: auth({ 'content-type': 'text/plain' }),
        body: content,
      });
      expect(up.status, await up.clone().text()).toBe(201);
      expect(await up.json()).toMatchObject({ fullName: path, size: content.length, md5: md5(content) });

      const meta = await fetch(`${server.url}/v1/meta/${encodeURI(path)}?storage=${storage}`, {
        headers: auth(),
      });
      expect(meta.status).toBe(200);
      expect(await meta.json()).toMatchObject({ fullName: path, size: content.length, status: 'READY' });
      // The same path in another storage is another file.
      const elsewhere = storage === 'storages.Default' ? 'storages.Oss' : 'storages.Default';
      expect((await fetch(objectUrl(path, elsewhere), { headers: auth() })).status).toBe(404);

      const { res, location } = await download(path, storage);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(content);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(res.headers.get('content-disposition')).toBe(
        `attachment; filename="?? ?.txt"; filename*=UTF-8''${encodeURIComponent('报告 é.txt')}`,
      );
      // Cloud backends redirect to a presigned GET on the bucket; local disk streams through the service.
      expect(Boolean(location)).toBe(type !== 'local-disk');
      if (location) expect(location.startsWith(server.url)).toBe(false);

      const direct = 'sent straight to the bucket';
      const sign = await fetch(`${server.url}/v1/uploads?storage=${storage}`, {
        method: 'POST',
        headers: auth({ 'content-type': 'application/json' }),
        body: JSON.stringify({
          path: `flow/${type}/direct.txt`,
          contentType: 'text/plain',
          size: direct.length,
        }),
      });
      expect(sign.status).toBe(201);
      const instructions = (await sign.json()) as PresignedUpload & { uploadId: string };
      const sent = await sendUpload(instructions, direct, reachable(instructions.url));
      expect(sent.status, await sent.clone().text()).toBeLessThan(300);
      const complete = await fetch(`${server.url}/v1/uploads/${instructions.uploadId}/complete`, {
        method: 'POST',
        headers: auth(),
      });
      expect(complete.status).toBe(200);
      expect(await complete.json()).toMatchObject({ size: direct.length, md5: md5(direct) });
      expect(await (await download(`flow/${type}/direct.txt`, storage)).res.text()).toBe(direct);
      // The URL is still valid, but it reaches only the staging key: the file keeps its bytes.
      const again = await sendUpload(instructions, 'SWAPPED after complete', reachable(instructions.url));
      expect(again.status).toBeLessThan(500);
      expect(await (await download(`flow/${type}/direct.txt`, storage)).res.text()).toBe(direct);

      expect((await fetch(objectUrl(path, storage), { method: 'DELETE', headers: auth() })).status).toBe(204);
      expect((await fetch(objectUrl(path, storage), { headers: auth() })).status).toBe(404);
      // The object itself is gone from the bucket: the presigned URL handed out before finds nothing.
      if (location) expect((await fetch(location)).status).toBe(404);
      expect((await fetch(objectUrl(path, storage), { method: 'DELETE', headers: auth() })).status).toBe(204);
    },
  );

  it.each(cases)(
    '%s (%s): expiry: 404 at access, and the sweeper deletes the object nobody reads',
    async (storage, type) => {
      const put = (path: string) =>
        fetch(objectUrl(path, storage, '&expires=1'), {
          method: 'PUT',
          headers: auth({ 'content-type': 'text/plain' }),
          body: `expiring in ${type}`,
        });
      expect((await put(`exp/${type}/read.txt`)).status).toBe(201);
      expect((await put(`exp/${type}/unread.txt`)).status).toBe(201);
      const unread = await download(`exp/${type}/unread.txt`, storage);
      expect(unread.res.status).toBe(200);
      await unread.res.body?.cancel();
      await new Promise((r) => setTimeout(r, 1200));
      expect((await fetch(objectUrl(`exp/${type}/read.txt`, storage), { headers: auth() })).status).toBe(404);

      // The sweeper runs every second; the presigned URL from before tells whether the object is gone.
      let listed = 1;
      let objectStatus = 200;
      for (let i = 0; i < 40 && (listed > 0 || objectStatus !== 404); i++) {
        await new Promise((r) => setTimeout(r, 250));
        const list = (await (
          await fetch(`${server.url}/v1/objects?prefix=exp/${type}/&storage=${storage}`, { headers: auth() })
        ).json()) as { items: unknown[] };
        listed = list.items.length;
        objectStatus = unread.location ? (await fetch(unread.location)).status : 404;
      }
      expect(listed).toBe(0);
      expect(objectStatus).toBe(404);
    },
  );
});

describe('preview never serves active content inline, on any backend (the presigned GET included)', () => {
  /** The disposition a presigned GET was signed to answer with: S3, MinIO and OSS name it as S3 does, Azure SAS as rscd. */
  const signedDisposition = (location: string) => {
    const q = new URL(location).searchParams;
    return q.get('response-content-disposition') ?? q.get('rscd');
  };

  it.each(cases)(
    '%s (%s): public HTML and SVG are attachments, a PNG stays inline',
    async (storage, type) => {
      const files = [
        ['page.html', 'text/html', '<script>alert(document.domain)</script>', 'attachment'],
        [
          'icon.svg',
          'image/svg+xml',
          '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
          'attachment',
        ],
        ['photo.png', 'image/png', 'png bytes', 'inline'],
      ] as const;
      for (const [name, contentType, body, expected] of files) {
        const path = `xss/${type}/${name}`;
        const up = await fetch(objectUrl(path, storage, '&visibility=public'), {
          method: 'PUT',
          headers: auth({ 'content-type': contentType }),
          body,
        });
        expect(up.status, await up.clone().text()).toBe(201);
        const preview = await fetch(`${server.url}/v1/preview/multi/${path}?storage=${storage}`, {
          redirect: 'manual',
        });
        const where = `${type} ${name}`;
        let served = preview;
        if (type === 'local-disk') {
          expect(preview.status, where).toBe(200);
        } else {
          expect(preview.status, where).toBe(302);
          const location = preview.headers.get('location') as string;
          expect(signedDisposition(location), where).toMatch(new RegExp(`^${expected};`));
          served = await fetch(location);
          expect(served.status, where).toBe(200);
        }
        // What the browser is told, by the service or by the bucket itself.
        expect(served.headers.get('content-disposition'), where).toMatch(new RegExp(`^${expected};`));
        expect(await served.text(), where).toBe(body);
      }
    },
  );
});

describe('multipart direct uploads on every backend (plan, parts, resume, complete, abort)', () => {
  const MiB = 1024 * 1024;
  const json = (body: unknown) => ({
    method: 'POST',
    headers: auth({ 'content-type': 'application/json' }),
    body: JSON.stringify(body),
  });
  const api = (path: string, storage: string) =>
    `${server.url}${path}${path.includes('?') ? '&' : '?'}storage=${storage}`;
  const usageOf = async () =>
    (await (await fetch(`${server.url}/v1/usage`, { headers: auth() })).json()) as {
      usedBytes: number;
      reservedBytes: number;
      fileCount: number;
    };
  /** Deterministic bytes, different per part and per seed. */
  const bytes = (size: number, seed: number) => {
    const b = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4) b.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
    return b;
  };

  async function signPart(storage: string, uploadId: string, partNumber: number) {
    const res = await fetch(api(`/v1/uploads/${uploadId}/parts`, storage), json({ parts: [partNumber] }));
    expect(res.status, await res.clone().text()).toBe(200);
    const { parts } = (await res.json()) as {
      parts: { partNumber: number; url: string; headers: Record<string, string> }[];
    };
    return parts[0] as (typeof parts)[number];
  }
  async function sendPart(storage: string, uploadId: string, partNumber: number, body: Buffer) {
    const part = await signPart(storage, uploadId, partNumber);
    const res = await fetch(reachable(part.url), { method: 'PUT', headers: part.headers, body });
    expect(res.status, await res.clone().text()).toBeLessThan(300);
    return res.headers.get('etag') ?? undefined;
  }

  it.each(cases)(
    '%s (%s): 11 MiB in 3 parts, a part re-sent, checked lists, resumed, completed',
    async (storage, type) => {
      const path = `multipart/${type}/big.bin`;
      const parts = [bytes(5 * MiB, 1), bytes(5 * MiB, 2), bytes(1 * MiB, 3)];
      const whole = Buffer.concat(parts);
      const before = await usageOf();
      const plan = await fetch(
        api('/v1/uploads', storage),
        json({
          path,
          contentType: 'application/octet-stream',
          size: whole.length,
          multipart: true,
          md5: md5Of(whole),
        }),
      );
      expect(plan.status, await plan.clone().text()).toBe(201);
      const {
        uploadId,
        mode,
        partSize,
        parts: count,
      } = (await plan.json()) as {
        uploadId: string;
        mode: string;
        partSize: number;
        parts: number;
      };
      expect({ mode, partSize, count }).toEqual({ mode: 'multipart', partSize: 5 * MiB, count: 3 });
      expect((await usageOf()).reservedBytes - before.reservedBytes).toBe(whole.length);

      // Part 2 first with the wrong bytes, then again with the right ones: the second replaces the first.
      const etags: (string | undefined)[] = [];
      etags[0] = await sendPart(storage, uploadId, 1, parts[0] as Buffer);
      const stale = await sendPart(storage, uploadId, 2, bytes(5 * MiB, 99));
      etags[1] = await sendPart(storage, uploadId, 2, parts[1] as Buffer);
      const complete = (list: { partNumber: number; etag?: string }[]) =>
        fetch(api(`/v1/uploads/${uploadId}/complete`, storage), json({ parts: list }));
      const list = (n: number[]) => n.map((partNumber) => ({ partNumber, etag: etags[partNumber - 1] }));

      // Resume: the storage says which parts it holds.
      const listed = await fetch(api(`/v1/uploads/${uploadId}/parts`, storage), { headers: auth() });
      expect(listed.status).toBe(200);
      const resume = (await listed.json()) as {
        parts: number;
        uploaded: { partNumber: number; size: number }[];
      };
      expect(resume.parts).toBe(3);
      expect(resume.uploaded.map((p) => [p.partNumber, p.size])).toEqual([
        [1, 5 * MiB],
        [2, 5 * MiB],
      ]);

      // A missing part, a reordered list, a stale ETag: refused, nothing lost.
      const early = await complete([...list([1, 2]), { partNumber: 3, etag: '"x"' }]);
      expect(early.status, type).toBe(409);
      expect(((await early.json()) as { error: { code: string } }).error.code).toBe('UPLOAD_INCOMPLETE');
      etags[2] = await sendPart(storage, uploadId, 3, parts[2] as Buffer);
      const reordered = await complete(list([2, 1, 3]));
      expect(reordered.status).toBe(400);
      expect(((await reordered.json()) as { error: { code: string } }).error.code).toBe('INVALID_PARTS');
      if (stale && etags[1] && stale !== etags[1]) {
        const old = await complete([...list([1]), { partNumber: 2, etag: stale }, ...list([3])]);
        expect(old.status).toBe(400);
      }

      const done = await complete(list([1, 2, 3]));
      expect(done.status, await done.clone().text()).toBe(200);
      expect(await done.json()).toMatchObject({ fullName: path, size: whole.length, md5: md5Of(whole) });
      // Idempotent, and the bytes are the parts in order.
      expect((await complete(list([1, 2, 3]))).status).toBe(200);
      const { res } = await download(path, storage);
      expect(Buffer.from(await res.arrayBuffer()).equals(whole)).toBe(true);
      const after = await usageOf();
      expect(after.reservedBytes).toBe(before.reservedBytes);
      expect(after.usedBytes - before.usedBytes).toBe(whole.length);
      const status = await fetch(api(`/v1/uploads/${uploadId}`, storage), { headers: auth() });
      expect(await status.json()).toMatchObject({ status: 'READY', mode: 'multipart' });
    },
  );

  it.each(cases)(
    '%s (%s): an aborted multipart upload gives its reservation back and keeps no part',
    async (storage) => {
      const before = await usageOf();
      const plan = await fetch(
        api('/v1/uploads', storage),
        json({
          path: 'multipart/aborted.bin',
          contentType: 'application/octet-stream',
          size: 6 * MiB,
          multipart: true,
        }),
      );
      const { uploadId } = (await plan.json()) as { uploadId: string };
      await sendPart(storage, uploadId, 1, bytes(5 * MiB, 7));
      const abort = await fetch(api(`/v1/uploads/${uploadId}`, storage), {
        method: 'DELETE',
        headers: auth(),
      });
      expect(abort.status).toBe(204);
      expect((await usageOf()).reservedBytes).toBe(before.reservedBytes);
      const gone = await fetch(api(`/v1/uploads/${uploadId}/parts`, storage), { headers: auth() });
      expect(gone.status).toBe(404);
      expect(
        (await fetch(api(`/v1/uploads/${uploadId}`, storage), { method: 'DELETE', headers: auth() })).status,
      ).toBe(204);
    },
  );
});

const md5Of = (b: Buffer) => createHash('md5').update(b).digest('hex');
