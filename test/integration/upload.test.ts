import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getStorage } from '../../shared/backends/registry';
import { getBlob } from '../../shared/metadata/blobs';
import { getFileRecord } from '../../shared/metadata/files';
import { getUsage, setLimit } from '../../shared/metadata/quota';
import { OFFLOAD_MIN_BYTES } from '../../shared/service/hasher';
import { findFile } from '../../shared/service/read';
import { deleteFile } from '../../shared/service/remove';
import { uploadFile } from '../../shared/service/upload';
import { principal, setupTestEnv, type TestEnv } from '../helpers/env';
import { expectQuotaConsistent, failure, md5, storedFiles, upload } from '../helpers/service-helpers';

let env: TestEnv;
let root: string;
beforeAll(async () => {
  env = await setupTestEnv();
  root = join(env.root, 'default');
});
afterAll(() => env.cleanup());

describe('upload (integration: DynamoDB Local + local disk)', () => {
  it('stores the bytes, the record with md5 and sha256, and counts the quota', async () => {
    const alice = principal('up-basic');
    const record = await upload(alice, 'docs/hello.txt', 'hello world');
    expect(record).toMatchObject({
      size: 11,
      md5: md5('hello world'),
      status: 'READY',
      contentType: 'text/plain',
    });
    expect(record.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(storedFiles(root)).toContain(record.key);
    expect(await getUsage('up-basic')).toMatchObject({ usedBytes: 11, fileCount: 1, reservedBytes: 0 });
  });

  it('stores 0-byte files and defaults the type to application/octet-stream', async () => {
    const record = await upload(principal('up-empty'), 'empty.bin', '', { contentType: undefined });
    expect(record).toMatchObject({ size: 0, contentType: 'application/octet-stream' });
  });

  it('overwrite replaces the record, deletes the old object and counts the new size only', async () => {
    const t = principal('up-overwrite');
    const first = await upload(t, 'a.txt', 'first version');
    const second = await upload(t, 'a.txt', 'v2');
    expect(second.id).not.toBe(first.id);
    expect(storedFiles(root)).not.toContain(first.key);
    expect(storedFiles(root)).toContain(second.key);
    expect(await getUsage('up-overwrite')).toMatchObject({ usedBytes: 2, fileCount: 1 });
    await expectQuotaConsistent('up-overwrite');
  });

  it('onConflict=fail answers 409 and keeps the existing file', async () => {
    const t = principal('up-fail');
    const first = await upload(t, 'a.txt', 'keep me');
    expect(await failure(upload(t, 'a.txt', 'intruder', { onConflict: 'fail' }))).toBe('409 ALREADY_EXISTS');
    expect((await getFileRecord('up-fail', 'storages.Default', 'a.txt'))?.id).toBe(first.id);
    await expectQuotaConsistent('up-fail');
  });

  it('onConflict=rename stores under a unique name next to the original', async () => {
    const t = principal('up-rename');
    await upload(t, 'docs/report.pdf', 'one');
    const renamed = await upload(t, 'docs/report.pdf', 'two', { onConflict: 'rename' });
    expect(renamed.path).toMatch(/^docs\/report_\d{8}_\d{6}_[0-9a-f]{8}\.pdf$/);
    expect(renamed.fileName).toBe(renamed.path.slice(5));
    expect(await getUsage('up-rename')).toMatchObject({ usedBytes: 6, fileCount: 2 });
  });

  it('rejects a wrong md5 with 400 and keeps nothing', async () => {
    const t = principal('up-md5');
    expect(await failure(upload(t, 'x.txt', 'data', { md5: md5('other') }))).toBe('400 MD5_MISMATCH');
    expect(await getFileRecord('up-md5', 'storages.Default', 'x.txt')).toBeUndefined();
    expect(storedFiles(root).filter((f) => f.startsWith('up-md5/'))).toEqual([]);
    expect(await getBlob('up-md5', 'storages.Default', md5('other'))).toBeUndefined();
    expect(await getUsage('up-md5')).toMatchObject({ usedBytes: 0, reservedBytes: 0, fileCount: 0 });
  });

  it('stores content with md5 once, as {md5}-{incarnation}{.ext}, reference counted across files', async () => {
    const t = principal('up-dedupe');
    const content = 'the same bytes';
    const hash = md5(content);
    const a = await upload(t, 'a.txt', content, { md5: hash });
    const b = await upload(t, 'copy/b.txt', content, { md5: hash });
    expect(a.key).toMatch(new RegExp(`^up-dedupe/blobs/${hash}-[0-9a-f]{32}\\.txt$`));
    expect(b.key).toBe(a.key);
    expect(storedFiles(root).filter((f) => f.startsWith('up-dedupe/'))).toEqual([a.key]);
    expect((await getBlob('up-dedupe', 'storages.Default', hash))?.refCount).toBe(2);
    // Quota counts each file: it is what the tenant sees in its listing.
    expect(await getUsage('up-dedupe')).toMatchObject({ usedBytes: 2 * content.length, fileCount: 2 });

    await deleteFile('up-dedupe', undefined, 'a.txt');
    expect(storedFiles(root)).toContain(a.key);
    expect((await getBlob('up-dedupe', 'storages.Default', hash))?.refCount).toBe(1);
    const { body } = await getStorage().get(b.key);
    expect(Buffer.concat(await body.toArray()).toString()).toBe(content);

    await deleteFile('up-dedupe', undefined, 'copy/b.txt');
    expect(storedFiles(root)).not.toContain(a.key);
    expect(await getBlob('up-dedupe', 'storages.Default', hash)).toBeUndefined();
    await expectQuotaConsistent('up-dedupe');
  });

  it('a deduplicated upload with a wrong md5 leaves the shared blob alone', async () => {
    const t = principal('up-dedupe-bad');
    const hash = md5('shared');
    await upload(t, 'a.txt', 'shared', { md5: hash });
    expect(await failure(upload(t, 'b.txt', 'not shared', { md5: hash }))).toBe('400 MD5_MISMATCH');
    expect((await getBlob('up-dedupe-bad', 'storages.Default', hash))?.refCount).toBe(1);
    expect(storedFiles(root).filter((f) => f.startsWith('up-dedupe-bad/'))).toHaveLength(1);
    await expectQuotaConsistent('up-dedupe-bad');
  });

  it('overwriting a file with the same deduplicated content keeps one reference', async () => {
    const t = principal('up-dedupe-same');
    const hash = md5('same');
    await upload(t, 'a.txt', 'same', { md5: hash });
    await upload(t, 'a.txt', 'same', { md5: hash });
    expect((await getBlob('up-dedupe-same', 'storages.Default', hash))?.refCount).toBe(1);
    await expectQuotaConsistent('up-dedupe-same');
  });

  it('over quota is 413 QUOTA_EXCEEDED and releases the reservation', async () => {
    await setLimit('up-quota', 10);
    const t = principal('up-quota');
    await upload(t, 'a.txt', '12345');
    expect(await failure(upload(t, 'b.txt', '123456'))).toBe('413 QUOTA_EXCEEDED');
    // Without a declared size the stream is cut when it passes the free bytes.
    const unsized = uploadFile({
      principal: t,
      path: 'c.txt',
      body: Readable.from([Buffer.from('123456')]),
      visibility: 'private',
      onConflict: 'overwrite',
    });
    expect(await failure(unsized)).toBe('413 QUOTA_EXCEEDED');
    expect(await getUsage('up-quota')).toMatchObject({ usedBytes: 5, reservedBytes: 0, fileCount: 1 });
    expect(storedFiles(root).filter((f) => f.startsWith('up-quota/'))).toHaveLength(1);
    await expectQuotaConsistent('up-quota');
  });

  it('a file over the size limit is 413 FILE_TOO_LARGE', async () => {
    env.reconfigure({ MAX_API_UPLOAD_BYTES: '4' });
    try {
      expect(await failure(upload(principal('up-large'), 'a.txt', '12345'))).toBe('413 FILE_TOO_LARGE');
      const unsized = uploadFile({
        principal: principal('up-large'),
        path: 'b.txt',
        body: Readable.from([Buffer.from('12345')]),
        visibility: 'private',
        onConflict: 'overwrite',
      });
      expect(await failure(unsized)).toBe('413 FILE_TOO_LARGE');
      expect(await getUsage('up-large')).toMatchObject({ usedBytes: 0, reservedBytes: 0 });
    } finally {
      env.reconfigure({ MAX_API_UPLOAD_BYTES: undefined });
    }
  });

  it('a type outside the allowed list is 415 and nothing is reserved', async () => {
    env.reconfigure({ ALLOWED_CONTENT_TYPES: 'image/*' });
    try {
      expect(await failure(upload(principal('up-type'), 'a.html', '<p>', { contentType: 'text/html' }))).toBe(
        '415 UNSUPPORTED_MEDIA_TYPE',
      );
      expect((await upload(principal('up-type'), 'a.png', 'png', { contentType: 'image/png' })).size).toBe(3);
    } finally {
      env.reconfigure({ ALLOWED_CONTENT_TYPES: undefined });
    }
  });

  it('a body that fails mid-stream leaves no object, no record and no reservation', async () => {
    const t = principal('up-broken');
    const body = new Readable({
      read() {
        this.push(Buffer.alloc(1024, 1));
        this.destroy(new Error('client went away'));
      },
    });
    const result = uploadFile({
      principal: t,
      path: 'x.bin',
      body,
      size: 4096,
      visibility: 'private',
      onConflict: 'overwrite',
    });
    await expect(result).rejects.toThrow();
    expect(storedFiles(root).filter((f) => f.startsWith('up-broken/'))).toEqual([]);
    expect(await getUsage('up-broken')).toMatchObject({ usedBytes: 0, reservedBytes: 0, fileCount: 0 });
  });

  it('an unknown storage instance is 400 UNKNOWN_STORAGE', async () => {
    expect(await failure(upload(principal('up-storage'), 'a.txt', 'x', { storage: 'storages.Nope' }))).toBe(
      '400 UNKNOWN_STORAGE',
    );
  });

  it('named instances keep separate files', async () => {
    const t = principal('up-named');
    await upload(t, 'a.txt', 'default');
    await upload(t, 'a.txt', 'other!', { storage: 'storages.Other' });
    expect((await findFile('up-named', undefined, 'a.txt')).record.size).toBe(7);
    expect((await findFile('up-named', 'storages.Other', 'a.txt')).record.size).toBe(6);
    expect(storedFiles(join(env.root, 'other')).filter((f) => f.startsWith('up-named/'))).toHaveLength(1);
    await expectQuotaConsistent('up-named');
  });

  describe('large bodies (as the local server accepts them)', () => {
    beforeAll(() => env.reconfigure({ MAX_API_UPLOAD_BYTES: String(64 * 1024 * 1024) }));
    afterAll(() => env.reconfigure({ MAX_API_UPLOAD_BYTES: undefined }));

    it('a large body (hashed on worker threads) gets the md5 and sha256 of its bytes', async () => {
      const t = principal('up-big');
      const data = randomBytes(OFFLOAD_MIN_BYTES + 3 * 1024 * 1024 + 1);
      const record = await upload(t, 'big.bin', data);
      expect(record).toMatchObject({
        size: data.length,
        md5: md5(data),
        sha256: createHash('sha256').update(data).digest('hex'),
      });
      expect(readFileSync(join(root, record.key)).equals(data)).toBe(true);
      // The same content with its md5 given is stored once, under the md5.
      const deduped = await upload(t, 'again.bin', data, { md5: md5(data) });
      expect(deduped).toMatchObject({ md5: md5(data), size: data.length });
      await expectQuotaConsistent('up-big');
    });

    it('a large body with a wrong md5, or longer than it declared, is refused and leaves nothing', async () => {
      const t = principal('up-big-bad');
      const data = randomBytes(OFFLOAD_MIN_BYTES + 1024);
      expect(await failure(upload(t, 'wrong.bin', data, { md5: md5('other') }))).toBe('400 MD5_MISMATCH');
      // Declares 1 KiB less than it sends: the stream is cut off at the declared length.
      expect(await failure(upload(t, 'long.bin', data, { size: OFFLOAD_MIN_BYTES }))).toBe(
        '413 FILE_TOO_LARGE',
      );
      expect(storedFiles(root).filter((f) => f.startsWith('up-big-bad/'))).toEqual([]);
      expect(await getUsage('up-big-bad')).toMatchObject({ usedBytes: 0, reservedBytes: 0, fileCount: 0 });
    });
  });

  it('concurrent uploads never push the counter past the limit', async () => {
    await setLimit('up-race', 20 * 100);
    const t = principal('up-race');
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) => upload(t, `f${i}.bin`, Buffer.alloc(100, i))),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(20);
    expect(await getUsage('up-race')).toMatchObject({ usedBytes: 2000, reservedBytes: 0, fileCount: 20 });
    await expectQuotaConsistent('up-race');
  });
});
