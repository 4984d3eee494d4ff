import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PresignedUpload, StorageBackend } from '../../shared/backends/contract';
import { StorageError, type StorageErrorKind } from '../../shared/errors';

/**
 * The one contract every storage backend keeps, run once per backend against a real server
 * (a temp folder, s3rver, Azurite, the OSS test server). Emulators differ in what they check on
 * presigned URLs; each target says what its server checks, and the cases that depend on a check
 * assert the rejection exactly where the server does it.
 */
export interface ContractTarget {
  backend: StorageBackend;
  /** What the server behind this backend verifies on presigned URLs. */
  checks: {
    /** A tampered upload URL (or policy) is refused. */
    uploadSignature: boolean;
    /** A tampered download URL is refused. */
    downloadSignature: boolean;
    /** An expired presigned URL is refused. */
    expiry: boolean;
  };
  /** The same backend with a wrong secret: every call is refused. */
  withWrongSecret?: () => StorageBackend;
  /** How the server says "wrong key" (InvalidCredentials unless the emulator says otherwise). */
  wrongSecretKind?: StorageErrorKind;
  /**
   * false when the server cannot verify presigned URLs whose query holds characters that RFC 3986
   * reserves but encodeURIComponent does not encode (' ( ) ! *), as in filename*=UTF-8''...
   */
  verifiesRfc3986Query?: boolean;
  /**
   * true where the storage has no multipart upload object (Azure: staged blocks of a blob): there
   * listParts of an aborted or completed upload is [], elsewhere StorageError NotFound.
   */
  uploadsListEmptyWhenGone?: boolean;
  /** true where parts answer no ETag (Azure's Put Block), so complete does not compare the ones given. */
  ignoresPartEtags?: boolean;
  /**
   * false when the server cannot find a copy source whose key holds characters that a URL path
   * reserves (+ = & ; , @ $), because it decodes the copy-source header only partly.
   */
  copiesReservedCharacters?: boolean;
  /**
   * false when the server sorts a listing by UTF-8 bytes but compares the cursor in UTF-16 code
   * units, so a page can skip keys whose two orders differ (U+E000 and above against emoji).
   */
  pagesInUtf8Order?: boolean;
  /** The content type the server keeps for a key, read natively; absent where nothing keeps one (local disk). */
  storedContentType?: (key: string) => Promise<string | undefined>;
  /** The same backend pointed at a port nobody listens on: calls fail with Unavailable. */
  unreachable?: () => StorageBackend;
  /** Rewrites a URL handed to clients so that this test process can reach it (e.g. the local server's). */
  reachable?: (url: string) => string;
  close?: () => Promise<void>;
}

const MiB = 1024 * 1024;

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

async function read(backend: StorageBackend, key: string, range?: { start: number; end: number }) {
  const { body, info } = await backend.get(key, range);
  return { data: await readAll(body), info };
}

/** `size` bytes of pseudo-random data, generated chunk by chunk, never held whole. */
function generated(size: number, seed: string): { stream: () => Readable; sha256: string } {
  const chunk = (i: number) => createHash('sha512').update(`${seed}:${i}`).digest();
  const blocks = function* () {
    let sent = 0;
    let i = 0;
    while (sent < size) {
      // 64 KiB blocks built from a hash chain: cheap, deterministic, incompressible.
      const parts: Buffer[] = [];
      for (let n = 0; n < 1024; n++) parts.push(chunk(i++));
      const block = Buffer.concat(parts).subarray(0, Math.min(64 * 1024, size - sent));
      sent += block.length;
      yield block;
    }
  };
  const hash = createHash('sha256');
  for (const b of blocks()) hash.update(b);
  return { stream: () => Readable.from(blocks(), { objectMode: false }), sha256: hash.digest('hex') };
}

async function streamSha256(body: Readable): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const c of body) {
    size += (c as Buffer).length;
    hash.update(c as Buffer);
  }
  return { sha256: hash.digest('hex'), size };
}

/** What a browser does with upload instructions: a PUT with the headers, or a form POST with the fields first. */
export function sendUpload(instructions: PresignedUpload, body: Buffer | string, url = instructions.url) {
  if (instructions.method === 'POST') {
    const form = new FormData();
    for (const [k, v] of Object.entries(instructions.fields ?? {})) form.set(k, v);
    const type = instructions.fields?.['Content-Type'] ?? 'application/octet-stream';
    form.set('file', new Blob([body], { type }), 'upload.bin');
    return fetch(url, { method: 'POST', body: form });
  }
  return fetch(url, { method: 'PUT', headers: instructions.headers, body });
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  return undefined;
}

/** Changes one character of the signature (or, failing that, of the path) in a presigned URL. */
function tamper(url: string): string {
  const u = new URL(url);
  for (const name of ['X-Amz-Signature', 'sig', 'Signature', 'x-oss-signature', 'x-amz-signature']) {
    const v = u.searchParams.get(name);
    if (v) {
      u.searchParams.set(name, `${v.slice(0, -2)}${v.endsWith('AA') ? 'BB' : 'AA'}`);
      return u.toString();
    }
  }
  if (u.pathname.endsWith('/')) throw new Error(`nothing to tamper with in ${url}`);
  u.pathname = `${u.pathname}x`;
  return u.toString();
}

export function describeBackendContract(name: string, factory: () => Promise<ContractTarget>): void {
  describe(`backend contract: ${name}`, () => {
    let target: ContractTarget;
    let b: StorageBackend;
    // Every run writes under its own prefix, so a shared server never mixes runs.
    const p = `contract-${randomBytes(4).toString('hex')}/`;
    const reachable = (url: string) => target.reachable?.(url) ?? url;

    beforeAll(async () => {
      target = await factory();
      b = target.backend;
    });
    afterAll(async () => {
      await target?.close?.();
    });

    it('round-trips 0 bytes, 1 byte from a stream, and reports the sizes', async () => {
      expect(
        await b.put(`${p}empty`, Buffer.alloc(0), { contentType: 'application/octet-stream' }),
      ).toMatchObject({
        key: `${p}empty`,
        size: 0,
      });
      expect((await read(b, `${p}empty`)).data.length).toBe(0);
      expect(await b.head(`${p}empty`)).toMatchObject({ key: `${p}empty`, size: 0 });

      const one = await b.put(`${p}one`, Readable.from([Buffer.from('x')]), { contentType: 'text/plain' });
      expect(one).toMatchObject({ key: `${p}one`, size: 1 });
      const back = await read(b, `${p}one`);
      expect(back.data.toString()).toBe('x');
      expect(back.info.size).toBe(1);
    });

    it('streams 20 MiB in and out without holding it whole', async () => {
      const big = generated(20 * MiB, name);
      const stored = await b.put(`${p}big.bin`, big.stream(), { contentType: 'application/octet-stream' });
      expect(stored.size).toBe(20 * MiB);
      expect((await b.head(`${p}big.bin`))?.size).toBe(20 * MiB);
      const { body, info } = await b.get(`${p}big.bin`);
      expect(info.size).toBe(20 * MiB);
      expect(await streamSha256(body)).toEqual({ sha256: big.sha256, size: 20 * MiB });
      // A range in the middle of a large object.
      const middle = await read(b, `${p}big.bin`, { start: 10 * MiB - 3, end: 10 * MiB + 4 });
      expect(middle.data.length).toBe(8);
      expect(middle.info.size).toBe(20 * MiB);
    });

    it('keeps UTF-8 keys, spaces and URL-special characters exactly', async () => {
      const keys = [`${p}报告/é 🎉.txt`, `${p}a+b=c&d;e,f@g$h.txt`, `${p}percent%20not-encoded (1).txt`];
      for (const [i, key] of keys.entries()) {
        await b.put(key, Buffer.from(`content ${i}`), { contentType: 'text/plain' });
      }
      for (const [i, key] of keys.entries()) {
        expect((await read(b, key)).data.toString()).toBe(`content ${i}`);
        expect((await b.head(key))?.key).toBe(key);
      }
      const listed = (await b.list(`${p}报告/`)).items.map((i) => i.key);
      expect(listed).toEqual([`${p}报告/é 🎉.txt`]);
    });

    it('reads ranges: inside, at the end, and one byte', async () => {
      await b.put(`${p}digits`, Buffer.from('0123456789'), { contentType: 'text/plain' });
      const inside = await read(b, `${p}digits`, { start: 2, end: 5 });
      expect(inside.data.toString()).toBe('2345');
      expect(inside.info.size).toBe(10);
      expect((await read(b, `${p}digits`, { start: 7, end: 9 })).data.toString()).toBe('789');
      expect((await read(b, `${p}digits`, { start: 0, end: 0 })).data.toString()).toBe('0');
      expect((await read(b, `${p}digits`, { start: 0, end: 3 })).data.toString()).toBe('0123');
    });

    it('head answers the size, and null for a missing key', async () => {
      await b.put(`${p}head.txt`, Buffer.from('four'), { contentType: 'text/plain' });
      const info = await b.head(`${p}head.txt`);
      expect(info).toMatchObject({ key: `${p}head.txt`, size: 4 });
      expect(info?.lastModified).toBeInstanceOf(Date);
      expect(await b.head(`${p}missing.txt`)).toBeNull();
    });

    it('overwrites: the second put wins, size included', async () => {
      await b.put(`${p}over.txt`, Buffer.from('first version'), { contentType: 'text/plain' });
      await b.put(`${p}over.txt`, Readable.from([Buffer.from('v2')]), { contentType: 'text/plain' });
      expect((await read(b, `${p}over.txt`)).data.toString()).toBe('v2');
      expect((await b.head(`${p}over.txt`))?.size).toBe(2);
    });

    it('delete is idempotent: twice, and on a key that never existed', async () => {
      await b.put(`${p}del.txt`, Buffer.from('bye'), { contentType: 'text/plain' });
      await b.delete(`${p}del.txt`);
      expect(await b.head(`${p}del.txt`)).toBeNull();
      await expect(b.delete(`${p}del.txt`)).resolves.toBeUndefined();
      await expect(b.delete(`${p}never-existed.txt`)).resolves.toBeUndefined();
    });

    it('deletes in batches, missing keys included, and leaves the others', async () => {
      for (const k of ['a', 'b', 'c'])
        await b.put(`${p}batch/${k}`, Buffer.from(k), { contentType: 'text/plain' });
      await b.deleteMany([`${p}batch/a`, `${p}batch/b`, `${p}batch/not-there`]);
      expect(await b.head(`${p}batch/a`)).toBeNull();
      expect(await b.head(`${p}batch/b`)).toBeNull();
      expect(await b.head(`${p}batch/c`)).toMatchObject({ size: 1 });
      await expect(b.deleteMany([])).resolves.toBeUndefined();
    });

    it('lists by prefix, page by page, in key order', async () => {
      const keys = ['list/a', 'list/b/1', 'list/b/2', 'list/c', 'list/d'].map((k) => `${p}${k}`);
      for (const k of [...keys].reverse()) await b.put(k, Buffer.from(k), { contentType: 'text/plain' });
      await b.put(`${p}listing-outside`, Buffer.from('no'), { contentType: 'text/plain' });
      const seen: string[] = [];
      const pages: number[] = [];
      let cursor: string | undefined;
      do {
        const page = await b.list(`${p}list/`, { limit: 2, cursor });
        pages.push(page.items.length);
        seen.push(...page.items.map((i) => i.key));
        for (const item of page.items) expect(item.size).toBe(Buffer.byteLength(item.key));
        cursor = page.cursor;
      } while (cursor && pages.length < 10);
      expect(seen).toEqual(keys);
      expect(pages.every((n) => n <= 2)).toBe(true);
      expect(pages.length).toBeGreaterThanOrEqual(3);
      expect((await b.list(`${p}nothing-here/`)).items).toEqual([]);
    });

    it('lists a prefix that ends inside a name, and a prefix whose folder does not exist', async () => {
      const keys = ['walk/a', 'walk/ab.txt', 'walk/abc/1.txt', 'walk/abd.txt', 'walk/b.txt'];
      for (const k of keys) await b.put(`${p}${k}`, Buffer.from(k), { contentType: 'text/plain' });
      const listed = async (prefix: string) => (await b.list(`${p}${prefix}`)).items.map((i) => i.key);
      expect(await listed('walk/ab')).toEqual([`${p}walk/ab.txt`, `${p}walk/abc/1.txt`, `${p}walk/abd.txt`]);
      expect(await listed('walk/abc/')).toEqual([`${p}walk/abc/1.txt`]);
      expect(await listed('walk/a')).toEqual([
        `${p}walk/a`,
        `${p}walk/ab.txt`,
        `${p}walk/abc/1.txt`,
        `${p}walk/abd.txt`,
      ]);
      expect(await listed('walk/nope/deeper/')).toEqual([]);
      expect(await listed('walk/ab.txt/')).toEqual([]);
      expect(await listed('walk/abc/1.txt')).toEqual([`${p}walk/abc/1.txt`]);
    });

    it('pages one key at a time through keys whose UTF-16 and UTF-8 orders differ, each key once', async () => {
      if (target.pagesInUtf8Order === false) return;
      // U+FF45 sorts before an emoji in UTF-8 bytes but after it in UTF-16 code units.
      const keys = ['order/e.txt', 'order/\uff45.txt', 'order/\u{1F389}.txt'].map((k) => `${p}${k}`);
      for (const k of keys) await b.put(k, Buffer.from('x'), { contentType: 'text/plain' });
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await b.list(`${p}order/`, { limit: 1, cursor });
        seen.push(...page.items.map((i) => i.key));
        cursor = page.cursor;
        pages++;
      } while (cursor && pages < 10);
      expect([...seen].sort()).toEqual([...keys].sort());
      expect(seen.length).toBe(keys.length);
    });

    it('copy makes a snapshot: same bytes, size and content type; a later put to the source leaves it', async () => {
      const from = `${p}copy/staging 报告.txt`;
      const to = `${p}copy/final/promoted.bin`;
      const first = Buffer.from('the first version of the upload');
      await b.put(from, first, { contentType: 'application/x-contract-copy' });
      const info = await b.copy(from, to);
      expect(info).toMatchObject({ key: to, size: first.length });
      expect((await read(b, to)).data).toEqual(first);
      expect(await b.head(to)).toMatchObject({ key: to, size: first.length });
      expect((await read(b, from)).data).toEqual(first);
      if (target.storedContentType) {
        expect(await target.storedContentType(to)).toBe('application/x-contract-copy');
      } else {
        expect(b.type).toBe('local-disk');
      }

      // A client may PUT to the source again after the copy: the copy keeps its bytes.
      await b.put(from, Readable.from([Buffer.from('v2')]), { contentType: 'text/plain' });
      expect((await read(b, from)).data.toString()).toBe('v2');
      expect((await read(b, to)).data).toEqual(first);
      expect((await b.head(to))?.size).toBe(first.length);
      await b.delete(from);
      expect((await read(b, to)).data).toEqual(first);
    });

    it('copy replaces an existing target, empty sources included', async () => {
      const to = `${p}copy/existing.txt`;
      await b.put(to, Buffer.from('old content'), { contentType: 'text/plain' });
      await b.put(`${p}copy/empty`, Buffer.alloc(0), { contentType: 'application/octet-stream' });
      expect(await b.copy(`${p}copy/empty`, to)).toMatchObject({ key: to, size: 0 });
      expect((await read(b, to)).data.length).toBe(0);
      expect((await b.head(to))?.size).toBe(0);
    });

    it('copy keeps keys with URL-special characters exactly', async () => {
      if (target.copiesReservedCharacters === false) return;
      const from = `${p}copy/a+b=c&d;e,f@g$h (1)!'*.txt`;
      const to = `${p}copy/to x+y=z&%20.txt`;
      await b.put(from, Buffer.from('special'), { contentType: 'text/plain' });
      expect(await b.copy(from, to)).toMatchObject({ key: to, size: 7 });
      expect((await read(b, to)).data.toString()).toBe('special');
      expect(await b.head(`${p}copy/to x+y=z& .txt`)).toBeNull();
    });

    it('copy of a missing key is a typed NotFound and creates nothing', async () => {
      const error = await caught(b.copy(`${p}copy/no-such-source.txt`, `${p}copy/never.txt`));
      expect(error).toBeInstanceOf(StorageError);
      expect(error).toMatchObject({ kind: 'NotFound', storageType: b.type, instance: b.name });
      expect(await b.head(`${p}copy/never.txt`)).toBeNull();
    });

    it('a missing key is a typed NotFound with the storage type and instance', async () => {
      const error = await caught(b.get(`${p}no/such/key.txt`));
      expect(error).toBeInstanceOf(StorageError);
      expect(error).toMatchObject({ kind: 'NotFound', storageType: b.type, instance: b.name });
    });

    it('a real HTTP upload to the presigned upload URL, then read back', async () => {
      const key = `${p}direct/up load é.txt`;
      const instructions = await b.presignUpload(key, {
        contentType: 'text/plain',
        maxBytes: 1000,
        expiresIn: 60,
      });
      expect(['PUT', 'POST']).toContain(instructions.method);
      expect(Date.parse(instructions.expiresAt)).toBeGreaterThan(Date.now() + 50_000);
      const res = await sendUpload(instructions, 'sent by the browser', reachable(instructions.url));
      expect(res.status, await res.clone().text()).toBeGreaterThanOrEqual(200);
      expect(res.status).toBeLessThan(300);
      await res.body?.cancel();
      expect((await read(b, key)).data.toString()).toBe('sent by the browser');
      expect((await b.head(key))?.size).toBe(19);
    });

    it('a presigned download is fetched with the Content-Disposition asked for (where the backend presigns)', async () => {
      const key = `${p}dl/report é.txt`;
      await b.put(key, Buffer.from('download me'), { contentType: 'text/plain' });
      // The service sends RFC 6266 headers with filename*=UTF-8''..., unless the server cannot check those.
      const disposition =
        target.verifiesRfc3986Query === false
          ? 'attachment; filename="report e.txt"'
          : `attachment; filename="report e.txt"; filename*=UTF-8''report%20%C3%A9.txt`;
      const url = await b.presignDownload(key, { expiresIn: 60, disposition, contentType: 'text/plain' });
      if (!b.capabilities.presignDownload) {
        expect(url).toBeNull();
        return;
      }
      expect(url).toEqual(expect.any(String));
      const res = await fetch(reachable(url as string));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-disposition')).toBe(disposition);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await res.text()).toBe('download me');
    });

    it('tampered and expired presigned URLs are refused wherever the server checks them', async () => {
      const key = `${p}guarded.txt`;
      await b.put(key, Buffer.from('guarded'), { contentType: 'text/plain' });
      const { checks } = target;

      const upload = await b.presignUpload(`${p}tampered-upload.txt`, {
        contentType: 'text/plain',
        maxBytes: 1000,
        expiresIn: 60,
      });
      if (checks.uploadSignature) {
        const bad =
          upload.method === 'POST'
            ? { ...upload, fields: { ...upload.fields, key: `${p}elsewhere.txt` } }
            : { ...upload, url: tamper(upload.url) };
        const res = await sendUpload(bad, 'forged', reachable(bad.url));
        expect(res.status).toBe(403);
        await res.body?.cancel();
        expect(await b.head(`${p}tampered-upload.txt`)).toBeNull();
        expect(await b.head(`${p}elsewhere.txt`)).toBeNull();
      }

      const download = b.capabilities.presignDownload
        ? await b.presignDownload(key, {
            expiresIn: 60,
            disposition: 'attachment',
            contentType: 'text/plain',
          })
        : null;
      if (download && checks.downloadSignature) {
        const res = await fetch(reachable(tamper(download)));
        expect(res.status).toBe(403);
        await res.body?.cancel();
        const other = new URL(download);
        other.pathname = other.pathname.replace(/guarded\.txt$/, 'tampered-upload.txt');
        const moved = await fetch(reachable(other.toString()));
        expect(moved.status).toBe(403);
        await moved.body?.cancel();
      }

      if (checks.expiry) {
        const shortUpload = await b.presignUpload(`${p}late-upload.txt`, {
          contentType: 'text/plain',
          maxBytes: 1000,
          expiresIn: 1,
        });
        const shortDownload = b.capabilities.presignDownload
          ? await b.presignDownload(key, {
              expiresIn: 1,
              disposition: 'attachment',
              contentType: 'text/plain',
            })
          : null;
        // Signatures carry whole seconds: wait until the second after expiry has surely passed.
        await new Promise((r) => setTimeout(r, 2100));
        const late = await sendUpload(shortUpload, 'too late', reachable(shortUpload.url));
        if (checks.uploadSignature) {
          expect(late.status).toBe(403);
          expect(await b.head(`${p}late-upload.txt`)).toBeNull();
        }
        await late.body?.cancel();
        if (shortDownload && checks.downloadSignature) {
          const res = await fetch(reachable(shortDownload));
          expect(res.status).toBe(403);
          await res.body?.cancel();
        }
      }
      // Whatever was refused, the original is intact.
      expect((await read(b, key)).data.toString()).toBe('guarded');
    });

    it('multipart: parts PUT to presigned part URLs, completed into one object; abort leaves nothing', async () => {
      const mp = b.multipart;
      expect(Boolean(mp)).toBe(b.capabilities.multipart);
      if (!mp) return;
      const key = `${p}multi/large é.bin`;
      // S3 wants every part but the last to be at least 5 MiB.
      const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(1000)];
      const { uploadId } = await mp.create(key, { contentType: 'application/octet-stream' });
      const sent: { partNumber: number; etag?: string }[] = [];
      for (const [i, data] of parts.entries()) {
        const part = await mp.presignPart(key, uploadId, i + 1, { expiresIn: 60 });
        expect(part.method).toBe('PUT');
        if (i === 0 && target.checks.uploadSignature) {
          const forged = await fetch(reachable(tamper(part.url)), {
            method: 'PUT',
            headers: part.headers,
            body: data,
          });
          expect(forged.status).toBe(403);
          await forged.body?.cancel();
        }
        const res = await fetch(reachable(part.url), { method: 'PUT', headers: part.headers, body: data });
        expect(res.status, await res.clone().text()).toBeLessThan(300);
        await res.body?.cancel();
        sent.push({ partNumber: i + 1, etag: res.headers.get('etag') ?? undefined });
      }
      expect(await b.head(key)).toBeNull();
      const info = await mp.complete(key, uploadId, sent, { contentType: 'application/octet-stream' });
      const whole = Buffer.concat(parts);
      expect(info).toMatchObject({ key, size: whole.length });
      const back = await b.get(key);
      expect(await streamSha256(back.body)).toEqual({
        sha256: createHash('sha256').update(whole).digest('hex'),
        size: whole.length,
      });

      const abandoned = `${p}multi/abandoned.bin`;
      const second = await mp.create(abandoned, { contentType: 'application/octet-stream' });
      const part = await mp.presignPart(abandoned, second.uploadId, 1, { expiresIn: 60 });
      const res = await fetch(reachable(part.url), { method: 'PUT', headers: part.headers, body: parts[2] });
      expect(res.status).toBeLessThan(300);
      await res.body?.cancel();
      await mp.abort(abandoned, second.uploadId);
      await expect(mp.abort(abandoned, second.uploadId)).resolves.toBeUndefined();
      expect(await b.head(abandoned)).toBeNull();
    });

    it('multipart resume: listParts shows the parts sent, a part sent again replaces, complete checks the parts', async () => {
      const mp = b.multipart;
      if (!mp) return;
      const key = `${p}resume/ré sumé.bin`;
      const gone = async (uploadId: string) => {
        if (target.uploadsListEmptyWhenGone) expect(await mp.listParts(key, uploadId)).toEqual([]);
        else expect(await caught(mp.listParts(key, uploadId))).toMatchObject({ kind: 'NotFound' });
      };
      const data = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(777)] as const;
      const { uploadId } = await mp.create(key, { contentType: 'application/octet-stream' });
      expect(await mp.listParts(key, uploadId)).toEqual([]);
      /** PUTs a part as a browser would; the ETag it answered (none on Azure). */
      const send = async (partNumber: number, body: Buffer) => {
        const part = await mp.presignPart(key, uploadId, partNumber, { expiresIn: 60 });
        const res = await fetch(reachable(part.url), { method: 'PUT', headers: part.headers, body });
        expect(res.status, await res.clone().text()).toBeLessThan(300);
        await res.body?.cancel();
        return res.headers.get('etag') ?? undefined;
      };
      const first = await send(1, data[0]);
      const third = await send(3, data[2]);
      const listed = await mp.listParts(key, uploadId);
      expect(listed.map((part) => [part.partNumber, part.size])).toEqual([
        [1, 5 * MiB],
        [3, 777],
      ]);
      for (const part of listed) expect(part.etag).toMatch(/\S/);
      if (first !== undefined) expect(listed[0]?.etag).toBe(first);
      if (third !== undefined) expect(listed[1]?.etag).toBe(third);

      // Part 1 again, one byte longer: it replaces the first one.
      const replacement = randomBytes(5 * MiB + 1);
      const again = await send(1, replacement);
      const relisted = await mp.listParts(key, uploadId);
      expect(relisted.map((part) => [part.partNumber, part.size])).toEqual([
        [1, 5 * MiB + 1],
        [3, 777],
      ]);
      if (again !== undefined) expect(relisted[0]?.etag).toBe(again);
      const etagOf = (n: number) => relisted.find((part) => part.partNumber === n)?.etag;

      // Part 2 never sent, an etag that is no part's, the replaced part's old etag: refused, nothing stored.
      const refused = async (parts: { partNumber: number; etag?: string }[]) => {
        const error = await caught(
          mp.complete(key, uploadId, parts, { contentType: 'application/octet-stream' }),
        );
        expect(error).toBeInstanceOf(StorageError);
        expect(error).toMatchObject({ kind: 'InvalidPart', storageType: b.type, instance: b.name });
        expect(await b.head(key)).toBeNull();
      };
      const fake = `"${'0123456789abcdef'.repeat(2)}"`;
      await refused([
        { partNumber: 1, etag: etagOf(1) },
        { partNumber: 2, etag: fake },
        { partNumber: 3, etag: etagOf(3) },
      ]);
      if (!target.ignoresPartEtags)
        await refused([
          { partNumber: 1, etag: fake },
          { partNumber: 3, etag: etagOf(3) },
        ]);
      if (!target.ignoresPartEtags && first !== undefined && first !== again)
        await refused([
          { partNumber: 1, etag: first },
          { partNumber: 3, etag: etagOf(3) },
        ]);
      // A refused complete leaves the upload as it was.
      expect((await mp.listParts(key, uploadId)).map((part) => part.partNumber)).toEqual([1, 3]);

      await send(2, data[1]);
      const all = await mp.listParts(key, uploadId);
      expect(all.map((part) => part.partNumber)).toEqual([1, 2, 3]);
      const info = await mp.complete(
        key,
        uploadId,
        all.map(({ partNumber, etag }) => ({ partNumber, etag })),
        { contentType: 'application/octet-stream' },
      );
      const whole = Buffer.concat([replacement, data[1], data[2]]);
      expect(info).toMatchObject({ key, size: whole.length });
      expect(await streamSha256((await b.get(key)).body)).toEqual({
        sha256: createHash('sha256').update(whole).digest('hex'),
        size: whole.length,
      });
      await gone(uploadId);

      // Aborted: its parts are gone, listParts says so, and no object appears.
      const abandonedKey = `${p}resume/abandoned.bin`;
      const second = await mp.create(abandonedKey, { contentType: 'application/octet-stream' });
      const part = await mp.presignPart(abandonedKey, second.uploadId, 1, { expiresIn: 60 });
      const res = await fetch(reachable(part.url), { method: 'PUT', headers: part.headers, body: data[2] });
      expect(res.status).toBeLessThan(300);
      await res.body?.cancel();
      expect((await mp.listParts(abandonedKey, second.uploadId)).map((x) => x.size)).toEqual([777]);
      await mp.abort(abandonedKey, second.uploadId);
      if (target.uploadsListEmptyWhenGone)
        expect(await mp.listParts(abandonedKey, second.uploadId)).toEqual([]);
      else
        expect(await caught(mp.listParts(abandonedKey, second.uploadId))).toMatchObject({ kind: 'NotFound' });
      expect(await b.head(abandonedKey)).toBeNull();
      expect((await b.list(`${p}resume/`)).items.map((i) => i.key)).toEqual([key]);
    });

    it('a wrong secret is a typed InvalidCredentials; an unreachable server is Unavailable', async () => {
      if (target.withWrongSecret) {
        const wrong = target.withWrongSecret();
        // Answers with an error document say why: a wrong key is InvalidCredentials.
        const kind = target.wrongSecretKind ?? 'InvalidCredentials';
        const error = await caught(wrong.put(`${p}x`, Buffer.from('x'), { contentType: 'text/plain' }));
        expect(error).toMatchObject({ kind, storageType: b.type, instance: b.name });
        expect(String((error as Error).message)).not.toMatch(/not-the|secret/i);
        expect(await caught(wrong.list(p))).toMatchObject({ kind });
        // A refused streamed GET may carry no document (ali-oss drops it): refused either way, never NotFound.
        expect(['InvalidCredentials', 'AccessDenied']).toContain(
          ((await caught(wrong.get(`${p}head.txt`))) as StorageError).kind,
        );
        expect(['InvalidCredentials', 'AccessDenied']).toContain(
          ((await caught(wrong.copy(`${p}head.txt`, `${p}x-copy`))) as StorageError).kind,
        );
        expect(await b.head(`${p}x`)).toBeNull();
        expect(await b.head(`${p}x-copy`)).toBeNull();
      }
      if (target.unreachable) {
        const error = await caught(target.unreachable().get(`${p}one`));
        expect(error).toMatchObject({ kind: 'Unavailable', storageType: b.type, instance: b.name });
      }
      expect(target.withWrongSecret || target.unreachable || b.type === 'local-disk').toBeTruthy();
    });
  });
}
