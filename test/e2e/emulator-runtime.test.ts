import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3RVER_KEY } from '../../infra/local/emulators';
import type { PresignedUpload } from '../../shared/backends/contract';
import { portOpen, type StartedServer, startServer } from '../helpers/local-server';
import { sendUpload } from '../integration/backend-contract';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('STORAGE_EMULATOR=s3|azure npm start: a cloud backend as the default storage on one machine', () => {
  it.each([
    ['s3', 'storages.S3Emulator', 's3', 'POST'],
    ['azure', 'storages.AzureEmulator', 'azure-blob', 'PUT'],
  ])('STORAGE_EMULATOR=%s', async (kind, storage, type, method) => {
    const dataDir = mkdtempSync(join(tmpdir(), `storage-emulator-${kind}-`));
    dirs.push(dataDir);
    const server = await startServer(dataDir, { STORAGE_EMULATOR: kind, SWEEP_INTERVAL: '0' });
    let endpoint = '';
    try {
      const line = new RegExp(
        `Storage emulator \\(${kind}\\) on (http://127\\.0\\.0\\.1:\\d+)\\S*: default storage ${storage}`,
      );
      endpoint = line.exec(server.output())?.[1] ?? '';
      expect(endpoint, server.output()).not.toBe('');
      const auth = { authorization: `Bearer ${await server.token('emu', 'eve')}` };

      const storages = (await (await fetch(`${server.url}/v1/storages`, { headers: auth })).json()) as {
        storages: { name: string; type: string; default: boolean }[];
      };
      expect(storages.storages).toContainEqual(
        expect.objectContaining({ name: storage, type, default: true }),
      );
      expect(storages.storages).toContainEqual(
        expect.objectContaining({ name: 'storages.Default', default: false }),
      );

      // No ?storage=: the emulator is the default.
      const put = await fetch(`${server.url}/v1/objects/emu/a.txt`, {
        method: 'PUT',
        headers: { ...auth, 'content-type': 'text/plain' },
        body: 'in the emulator',
      });
      expect(put.status).toBe(201);
      const redirect = await fetch(`${server.url}/v1/objects/emu/a.txt`, {
        headers: auth,
        redirect: 'manual',
      });
      expect(redirect.status).toBe(302);
      const location = redirect.headers.get('location') as string;
      expect(location.startsWith(endpoint)).toBe(true);
      expect(await (await fetch(location)).text()).toBe('in the emulator');

      const sign = await fetch(`${server.url}/v1/uploads`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ path: 'emu/direct.txt', contentType: 'text/plain', size: 6 }),
      });
      const instructions = (await sign.json()) as PresignedUpload & { uploadId: string };
      expect(instructions.method).toBe(method);
      expect(instructions.url.startsWith(endpoint)).toBe(true);
      expect((await sendUpload(instructions, 'direct')).status).toBeLessThan(300);
      const done = await fetch(`${server.url}/v1/uploads/${instructions.uploadId}/complete`, {
        method: 'POST',
        headers: auth,
      });
      expect(done.status).toBe(200);
    } finally {
      expect(await server.stop()).toBe(0);
    }
    // Ctrl-C stopped the emulator too.
    expect(await portOpen(endpoint)).toBe(false);
  });
});

/**
 * The S3 emulator's bucket does what the stack's bucket does: its ObjectCreated notifications under
 * the staging prefix run on-object-created with the event AWS sends, and its CORS rule lets pages
 * of the server upload to it straight from a browser.
 */
describe('STORAGE_EMULATOR=s3: the bucket notification and CORS of AWS on one machine', () => {
  let server: StartedServer;
  let endpoint = '';
  beforeAll(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'storage-emulator-events-'));
    dirs.push(dataDir);
    server = await startServer(dataDir, { STORAGE_EMULATOR: 's3', SWEEP_INTERVAL: '0' });
    endpoint = /Storage emulator \(s3\) on (http:\/\/127\.0\.0\.1:\d+)/.exec(server.output())?.[1] ?? '';
  });
  afterAll(async () => {
    expect(await server?.stop()).toBe(0);
  });
  const auth = async (tenant: string) => ({ authorization: `Bearer ${await server.token(tenant)}` });
  /** The page origin the server itself reports (PUBLIC_BASE_URL). */
  const origin = () => `http://localhost:${server.port}`;

  async function pollReady(headers: Record<string, string>, path: string) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const res = await fetch(`${server.url}/v1/meta/${encodeURI(path)}`, { headers });
      if (res.status === 200) {
        const record = (await res.json()) as { id: string; status?: string; size: number; md5: string };
        if (record.status === undefined || record.status === 'READY') return record;
      } else {
        await res.body?.cancel();
      }
      if (Date.now() > deadline) throw new Error(`${path} not READY in 10 s:\n${server.output()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it('a direct upload becomes READY by its ObjectCreated event alone; quota exact; a later complete answers the same file', async () => {
    const headers = await auth('emu-events');
    const body = 'sent straight to the bucket';
    const sign = await fetch(`${server.url}/v1/uploads`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ path: 'in/bucket file.txt', contentType: 'text/plain', size: body.length }),
    });
    expect(sign.status).toBe(201);
    const instructions = (await sign.json()) as PresignedUpload & { uploadId: string };
    expect(instructions.url.startsWith(endpoint)).toBe(true);
    const sent = await sendUpload(instructions, body);
    expect(sent.status).toBeLessThan(300);
    await sent.body?.cancel();

    // No call to complete: the emulator's event finalized it.
    const record = await pollReady(headers, 'in/bucket file.txt');
    expect(record).toMatchObject({ id: instructions.uploadId, size: body.length, md5: md5(body) });
    const usage = (await (await fetch(`${server.url}/v1/usage`, { headers })).json()) as Record<
      string,
      number
    >;
    expect(usage).toMatchObject({ usedBytes: body.length, reservedBytes: 0, fileCount: 1 });
    const download = await fetch(`${server.url}/v1/objects/in/bucket%20file.txt`, { headers });
    expect(await download.text()).toBe(body);

    // The client's complete, after the event: the same file, nothing counted twice.
    const done = await fetch(`${server.url}/v1/uploads/${instructions.uploadId}/complete`, {
      method: 'POST',
      headers,
    });
    expect(done.status).toBe(200);
    expect(await done.json()).toMatchObject({ id: record.id, md5: record.md5, size: body.length });
    const after = (await (await fetch(`${server.url}/v1/usage`, { headers })).json()) as Record<
      string,
      number
    >;
    expect(after).toMatchObject({ usedBytes: body.length, reservedBytes: 0, fileCount: 1 });
  });

  it("answers a browser on the server's origin: preflights, a part PUT exposing its ETag; the completed multipart upload runs on-object-created too", async () => {
    const preflight = (url: string, method: string, from = origin()) =>
      fetch(url, {
        method: 'OPTIONS',
        headers: {
          origin: from,
          'access-control-request-method': method,
          'access-control-request-headers': 'content-type,content-md5,x-amz-meta-anything',
        },
      });
    const key = `_staging/emu-cors/${randomBytes(16).toString('hex')}.bin`;
    const objectUrl = `${endpoint}/local-files/${key}`;
    for (const [url, method] of [
      [objectUrl, 'PUT'],
      [`${endpoint}/local-files`, 'POST'],
      [objectUrl, 'GET'],
      [objectUrl, 'HEAD'],
    ] as const) {
      const res = await preflight(url, method);
      expect(res.status, `${method} ${url}: ${await res.clone().text()}`).toBe(200);
      expect(res.headers.get('access-control-allow-methods')?.split(/,\s*/)).toEqual(
        expect.arrayContaining(['PUT', 'POST', 'GET', 'HEAD']),
      );
      expect(res.headers.get('access-control-allow-headers')).toBe(
        'content-type, content-md5, x-amz-meta-anything',
      );
      await res.body?.cancel();
    }
    const foreign = await preflight(objectUrl, 'PUT', 'https://elsewhere.example');
    expect(foreign.status).toBe(403);
    await foreign.body?.cancel();

    // A part uploaded the way a browser page of the server does it: the ETag is readable.
    const client = new S3Client({
      region: 'us-east-1',
      endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: S3RVER_KEY, secretAccessKey: S3RVER_KEY },
    });
    try {
      const { UploadId } = await client.send(
        new CreateMultipartUploadCommand({ Bucket: 'local-files', Key: key }),
      );
      const partUrl = await getSignedUrl(
        client,
        new UploadPartCommand({ Bucket: 'local-files', Key: key, UploadId, PartNumber: 1 }),
        { expiresIn: 300 },
      );
      const part = await fetch(partUrl, { method: 'PUT', headers: { origin: origin() }, body: 'one part' });
      expect(part.status, await part.clone().text()).toBe(200);
      const etag = part.headers.get('etag');
      expect(etag?.replace(/"/g, '')).toBe(md5('one part'));
      expect(part.headers.get('access-control-allow-origin')).toBe(origin());
      expect(part.headers.get('access-control-expose-headers')?.split(/,\s*/)).toContain('ETag');

      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: 'local-files',
          Key: key,
          UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: etag as string }] },
        }),
      );
      // No upload waits for this staging object: on-object-created deletes it, as in AWS.
      const deadline = Date.now() + 10_000;
      for (;;) {
        const head = await client.send(new HeadObjectCommand({ Bucket: 'local-files', Key: key })).then(
          () => 'present',
          (e: Error) => e.name,
        );
        if (head === 'NotFound') break;
        expect(Date.now(), `${key} still ${head}:\n${server.output()}`).toBeLessThan(deadline);
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      client.destroy();
    }
  });
});
