import { createHash, randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalServer } from '../../infra/local/server';
import { LocalDiskBackend, MAX_PART_BYTES } from '../../shared/backends/local-disk';
import { getStorage, resetStorages } from '../../shared/backends/registry';
import { resetConfig } from '../../shared/config';
import { describeBackendContract } from './backend-contract';

/**
 * Local disk in a temp folder. Its upload URLs are signed by the service and accepted by the local
 * server's /_local/upload route, so the real server runs here too, over the instance the registry
 * builds from configuration.
 */
describeBackendContract('local-disk', async () => {
  const root = mkdtempSync(join(tmpdir(), 'contract-local-'));
  const server = createLocalServer({ port: 0, jwtSecret: randomBytes(32).toString('hex') });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  Object.assign(process.env, {
    SIGNING_SECRET: randomBytes(32).toString('hex'),
    PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    STORAGES: JSON.stringify({ 'storages.Default': { type: 'local-disk', root } }),
  });
  resetConfig();
  resetStorages();
  return {
    backend: getStorage('storages.Default'),
    checks: { uploadSignature: true, downloadSignature: false, expiry: true },
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      rmSync(root, { recursive: true, force: true });
    },
  };
});

describe('local-disk removeStaleTemp', () => {
  const root = mkdtempSync(join(tmpdir(), 'stale-temp-'));
  const backend = new LocalDiskBackend({ name: 'storages.Default', root, signingSecret: 's'.repeat(32) });
  const temp = join(root, '.tmp');
  const hourAgo = new Date(Date.now() - 3_600_000);
  const twoHoursAgo = new Date(Date.now() - 7_200_000);
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('is 0 when the temp folder does not exist yet', async () => {
    expect(await backend.removeStaleTemp(new Date())).toBe(0);
  });

  it('removes temp files last written before the time given, keeps fresh ones and stored objects', async () => {
    await backend.put('t/kept.txt', Buffer.from('stored'), { contentType: 'text/plain' });
    mkdirSync(temp, { recursive: true });
    writeFileSync(join(temp, 'stale-upload'), 'abandoned');
    utimesSync(join(temp, 'stale-upload'), twoHoursAgo, twoHoursAgo);
    writeFileSync(join(temp, 'live-upload'), 'still arriving');
    expect(await backend.removeStaleTemp(hourAgo)).toBe(1);
    expect(readdirSync(temp)).toEqual(['live-upload']);
    expect((await backend.head('t/kept.txt'))?.size).toBe(6);
    // Nothing newer than the cut-off: nothing more goes.
    expect(await backend.removeStaleTemp(hourAgo)).toBe(0);
    expect(readdirSync(temp)).toEqual(['live-upload']);
  });

  it('keeps a temp link to a stored object (a copy being renamed into place) until the object is gone', async () => {
    await backend.put('t/linked.txt', Buffer.from('linked'), { contentType: 'text/plain' });
    linkSync(join(root, 't', 'linked.txt'), join(temp, 'copy-in-flight'));
    utimesSync(join(temp, 'copy-in-flight'), twoHoursAgo, twoHoursAgo);
    expect(await backend.removeStaleTemp(hourAgo)).toBe(0);
    expect(readdirSync(temp).sort()).toEqual(['copy-in-flight', 'live-upload']);
    await backend.delete('t/linked.txt');
    expect(await backend.removeStaleTemp(hourAgo)).toBe(1);
    expect(readdirSync(temp)).toEqual(['live-upload']);
  });
});

describe('local-disk multipart over the local server', () => {
  const root = mkdtempSync(join(tmpdir(), 'multipart-local-'));
  const server = createLocalServer({ port: 0, jwtSecret: randomBytes(32).toString('hex') });
  const signingSecret = randomBytes(32).toString('hex');
  let backend: LocalDiskBackend;
  let baseUrl: string;
  const parts = join(root, '.tmp', 'parts');
  const put = (url: string, body: Buffer | string) => fetch(url, { method: 'PUT', body });
  const refusal = async (res: Response) => ({
    status: res.status,
    code: ((await res.json()) as { error: { code: string } }).error.code,
  });

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    Object.assign(process.env, {
      SIGNING_SECRET: signingSecret,
      PUBLIC_BASE_URL: baseUrl,
      STORAGES: JSON.stringify({ 'storages.Default': { type: 'local-disk', root } }),
    });
    resetConfig();
    resetStorages();
    // The instance the local server answers with, built from configuration.
    backend = getStorage('storages.Default') as LocalDiskBackend;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(root, { recursive: true, force: true });
  });

  it('a part answers 200 with the quoted md5 as ETag; the parts stay out of every listing until complete', async () => {
    const mp = backend.multipart;
    const { uploadId } = await mp.create('t1/big.bin', { contentType: 'video/mp4' });
    expect(uploadId).toMatch(/^[0-9a-f]{32}$/);
    const signed = await mp.presignPart('t1/big.bin', uploadId, 1, { expiresIn: 60 });
    expect(signed).toMatchObject({ method: 'PUT', headers: {} });
    expect(new URL(signed.url).searchParams.get('max')).toBe(String(MAX_PART_BYTES));
    const res = await put(signed.url, 'part one');
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe(`"${createHash('md5').update('part one').digest('hex')}"`);
    expect(readdirSync(join(parts, uploadId)).sort()).toEqual([
      `1.${createHash('md5').update('part one').digest('hex')}`,
      'manifest.json',
    ]);
    expect((await backend.list('')).items).toEqual([]);
    expect((await backend.list('t1/')).items).toEqual([]);
    await mp.complete('t1/big.bin', uploadId, [{ partNumber: 1, etag: res.headers.get('etag') ?? '' }], {
      contentType: 'video/mp4',
    });
    expect((await backend.list('')).items.map((i) => i.key)).toEqual(['t1/big.bin']);
    expect(readdirSync(parts)).toEqual([]);
    await expect(mp.listParts('t1/big.bin', uploadId)).rejects.toMatchObject({ kind: 'NotFound' });
  });

  it('a part URL with a wrong signature, for another part, or expired is 403 INVALID_LINK; nothing is stored', async () => {
    const mp = backend.multipart;
    const { uploadId } = await mp.create('t1/guarded.bin', { contentType: 'application/octet-stream' });
    const signed = new URL((await mp.presignPart('t1/guarded.bin', uploadId, 1, { expiresIn: 60 })).url);
    const tampered = new URL(signed);
    const sig = tampered.searchParams.get('sig') ?? '';
    tampered.searchParams.set('sig', `${sig.slice(0, -2)}${sig.endsWith('AA') ? 'BB' : 'AA'}`);
    expect(await refusal(await put(tampered.toString(), 'x'))).toEqual({ status: 403, code: 'INVALID_LINK' });
    const otherPart = new URL(signed);
    otherPart.searchParams.set('part', '2');
    expect(await refusal(await put(otherPart.toString(), 'x'))).toEqual({
      status: 403,
      code: 'INVALID_LINK',
    });
    const larger = new URL(signed);
    larger.searchParams.set('max', String(MAX_PART_BYTES * 2));
    expect(await refusal(await put(larger.toString(), 'x'))).toEqual({ status: 403, code: 'INVALID_LINK' });
    // A plain upload URL's signature does not make a part, nor a part's a plain upload.
    const upload = new URL(
      (
        await backend.presignUpload('t1/guarded.bin', {
          contentType: 'text/plain',
          maxBytes: 10,
          expiresIn: 60,
        })
      ).url,
    );
    upload.searchParams.set('upload', uploadId);
    upload.searchParams.set('part', '1');
    expect(await refusal(await put(upload.toString(), 'x'))).toEqual({ status: 403, code: 'INVALID_LINK' });
    const asUpload = new URL(signed);
    asUpload.searchParams.delete('upload');
    asUpload.searchParams.delete('part');
    expect(await refusal(await put(asUpload.toString(), 'x'))).toEqual({ status: 403, code: 'INVALID_LINK' });

    const short = await mp.presignPart('t1/guarded.bin', uploadId, 1, { expiresIn: 1 });
    await new Promise((r) => setTimeout(r, 2100));
    expect(await refusal(await put(short.url, 'late'))).toEqual({ status: 403, code: 'INVALID_LINK' });
    expect(await mp.listParts('t1/guarded.bin', uploadId)).toEqual([]);
    expect(await backend.head('t1/guarded.bin')).toBeNull();
    await mp.abort('t1/guarded.bin', uploadId);
  });

  it('a part above the signed maximum is 413 FILE_TOO_LARGE and leaves no part and no temp file', async () => {
    // The same instance with a smaller maximum signs the URL; the server's instance enforces what is signed.
    const small = new LocalDiskBackend({
      name: 'storages.Default',
      root,
      signingSecret,
      publicBaseUrl: baseUrl,
      maxPartBytes: 1000,
    });
    const { uploadId } = await small.multipart.create('t1/capped.bin', { contentType: 'text/plain' });
    const signed = await small.multipart.presignPart('t1/capped.bin', uploadId, 1, { expiresIn: 60 });
    expect(await refusal(await put(signed.url, Buffer.alloc(1001)))).toEqual({
      status: 413,
      code: 'FILE_TOO_LARGE',
    });
    expect(await backend.multipart.listParts('t1/capped.bin', uploadId)).toEqual([]);
    expect(readdirSync(join(root, '.tmp'))).toEqual(['parts']);
    expect((await put(signed.url, Buffer.alloc(1000))).status).toBe(200);
    expect(await backend.multipart.listParts('t1/capped.bin', uploadId)).toMatchObject([
      { partNumber: 1, size: 1000 },
    ]);
    await backend.multipart.abort('t1/capped.bin', uploadId);
  });

  it('a part for an aborted upload is 404 UPLOAD_NOT_FOUND and does not bring the upload back', async () => {
    const mp = backend.multipart;
    const { uploadId } = await mp.create('t1/dropped.bin', { contentType: 'text/plain' });
    const signed = await mp.presignPart('t1/dropped.bin', uploadId, 1, { expiresIn: 60 });
    await mp.abort('t1/dropped.bin', uploadId);
    await expect(mp.abort('t1/dropped.bin', uploadId)).resolves.toBeUndefined();
    expect(await refusal(await put(signed.url, 'late part'))).toEqual({
      status: 404,
      code: 'UPLOAD_NOT_FOUND',
    });
    expect(readdirSync(parts)).not.toContain(uploadId);
    await expect(mp.listParts('t1/dropped.bin', uploadId)).rejects.toMatchObject({ kind: 'NotFound' });
    // Another key, or an id that is no upload id, is no upload either.
    const other = await mp.create('t1/other.bin', { contentType: 'text/plain' });
    await expect(mp.listParts('t1/not-this-key.bin', other.uploadId)).rejects.toMatchObject({
      kind: 'NotFound',
    });
    await expect(mp.listParts('t1/other.bin', '../../t1')).rejects.toMatchObject({ kind: 'NotFound' });
    await mp.abort('t1/not-this-key.bin', other.uploadId);
    expect(await mp.listParts('t1/other.bin', other.uploadId)).toEqual([]);
    await mp.abort('t1/other.bin', other.uploadId);
  });

  it('removeStaleParts removes the folders of uploads nothing was written to since the time given', async () => {
    const mp = backend.multipart;
    const stale = await mp.create('t1/stale.bin', { contentType: 'text/plain' });
    expect(
      (await put((await mp.presignPart('t1/stale.bin', stale.uploadId, 1, { expiresIn: 60 })).url, 'old'))
        .status,
    ).toBe(200);
    const fresh = await mp.create('t1/fresh.bin', { contentType: 'text/plain' });
    const twoHoursAgo = new Date(Date.now() - 7_200_000);
    const staleDir = join(parts, stale.uploadId);
    for (const name of readdirSync(staleDir)) utimesSync(join(staleDir, name), twoHoursAgo, twoHoursAgo);
    utimesSync(staleDir, twoHoursAgo, twoHoursAgo);
    const hourAgo = new Date(Date.now() - 3_600_000);
    // Temp-file cleanup leaves part folders alone.
    expect(await backend.removeStaleTemp(hourAgo)).toBe(0);
    expect(await backend.removeStaleParts(hourAgo)).toBe(1);
    expect(readdirSync(parts)).toEqual([fresh.uploadId]);
    await expect(mp.listParts('t1/stale.bin', stale.uploadId)).rejects.toMatchObject({ kind: 'NotFound' });
    expect(await mp.listParts('t1/fresh.bin', fresh.uploadId)).toEqual([]);
    expect(await backend.removeStaleParts(hourAgo)).toBe(0);
  });
});
