import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDiskBackend } from '../../shared/backends/local-disk';
import { getStorage } from '../../shared/backends/registry';
import { getFileRecord } from '../../shared/metadata/files';
import { getUsage, setLimit } from '../../shared/metadata/quota';
import { getSession } from '../../shared/metadata/sessions';

import { OFFLOAD_MIN_BYTES } from '../../shared/service/hasher';
import { createLink, openPreview } from '../../shared/service/links';
import { listFiles } from '../../shared/service/list';
import { findFile } from '../../shared/service/read';
import { deleteFile } from '../../shared/service/remove';
import { sweepExpired } from '../../shared/service/sweep';
import { recalculateUsage } from '../../shared/service/usage';
import { principal, setupTestEnv, type TestEnv } from '../helpers/env';
import {
  completeNow,
  expectQuotaConsistent,
  failure,
  md5,
  signSingleUpload,
  storedFiles,
  upload,
} from '../helpers/service-helpers';

let env: TestEnv;
let root: string;
beforeAll(async () => {
  env = await setupTestEnv();
  root = join(env.root, 'default');
});
afterAll(() => env.cleanup());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const later = (seconds: number) => Date.now() + seconds * 1000;

describe('expiry (integration)', () => {
  it('an expired file answers 404 on read and is cleaned up then: object, record, quota', async () => {
    const t = principal('exp-read');
    const record = await upload(t, 'short.txt', 'short-lived', { expires: 1 });
    expect((await findFile('exp-read', undefined, 'short.txt')).record.id).toBe(record.id);
    await sleep(1100);
    expect(await failure(findFile('exp-read', undefined, 'short.txt'))).toBe('404 NOT_FOUND');
    expect(await getFileRecord('exp-read', 'storages.Default', 'short.txt')).toBeUndefined();
    expect(storedFiles(root)).not.toContain(record.key);
    expect(await getUsage('exp-read')).toMatchObject({ usedBytes: 0, fileCount: 0 });
  });

  it('a read-only function (CLEANUP_ON_READ=false) answers 404 and leaves the cleanup to the sweeper', async () => {
    const t = principal('exp-readonly');
    const record = await upload(t, 'ro.txt', 'read-only', { expires: 1 });
    await sleep(1100);
    env.reconfigure({ CLEANUP_ON_READ: 'false' });
    try {
      expect(await failure(findFile('exp-readonly', undefined, 'ro.txt'))).toBe('404 NOT_FOUND');
      expect((await listFiles({ tenant: 'exp-readonly', limit: 10 })).items).toEqual([]);
      expect(await getFileRecord('exp-readonly', 'storages.Default', 'ro.txt')).toBeDefined();
    } finally {
      env.reconfigure({ CLEANUP_ON_READ: undefined });
    }
    await sweepExpired({ now: later(1), deadline: later(30) });
    expect(await getFileRecord('exp-readonly', 'storages.Default', 'ro.txt')).toBeUndefined();
    expect(storedFiles(root)).not.toContain(record.key);
    await expectQuotaConsistent('exp-readonly');
  });

  it('the sweeper removes expired files through the expiry index and leaves the rest', async () => {
    const t = principal('exp-sweep');
    const gone = await upload(t, 'gone.txt', 'expires', { expires: 1 });
    const kept = await upload(t, 'kept.txt', 'stays', { expires: 3600 });
    const forever = await upload(t, 'forever.txt', 'no expiry');
    const result = await sweepExpired({ now: later(2), deadline: later(30) });
    expect(result.files).toBeGreaterThanOrEqual(1);
    expect(result.complete).toBe(true);
    expect(await getFileRecord('exp-sweep', 'storages.Default', 'gone.txt')).toBeUndefined();
    expect(storedFiles(root)).not.toContain(gone.key);
    expect(storedFiles(root)).toEqual(expect.arrayContaining([kept.key, forever.key]));
    await expectQuotaConsistent('exp-sweep');
  });

  it('two sweeps at once release each file exactly once', async () => {
    const t = principal('exp-twice');
    for (let i = 0; i < 12; i++) await upload(t, `f${i}.txt`, `file ${i}`, { expires: 1 });
    await upload(t, 'keep.txt', 'keep');
    const [a, b] = await Promise.all([
      sweepExpired({ now: later(2), deadline: later(30) }),
      sweepExpired({ now: later(2), deadline: later(30) }),
    ]);
    expect(a.files + b.files).toBeGreaterThanOrEqual(12);
    expect(await getUsage('exp-twice')).toMatchObject({ usedBytes: 4, fileCount: 1 });
    await expectQuotaConsistent('exp-twice');
  });

  it('stops when its time budget is spent and reports that it is not complete', async () => {
    await upload(principal('exp-budget'), 'a.txt', 'x', { expires: 1 });
    const result = await sweepExpired({ now: later(2), deadline: Date.now() - 1 });
    expect(result).toMatchObject({ complete: false, files: 0 });
  });

  it('reaps abandoned direct uploads: reservation released, stray bytes deleted', async () => {
    const t = principal('exp-abandon');
    const signed = await signSingleUpload({
      principal: t,
      path: 'big.bin',
      size: 1000,
      visibility: 'private',
      onConflict: 'overwrite',
    });
    expect(await getUsage('exp-abandon')).toMatchObject({ reservedBytes: 1000 });
    const session = await getSession('exp-abandon', signed.uploadId);
    await getStorage().put(session?.key ?? '', Buffer.from('partial'), {
      contentType: 'application/octet-stream',
    });
    const result = await sweepExpired({ now: later(24 * 3600), deadline: later(30) });
    expect(result.uploads).toBeGreaterThanOrEqual(1);
    expect(await getUsage('exp-abandon')).toMatchObject({ reservedBytes: 0, usedBytes: 0 });
    expect(storedFiles(root)).not.toContain(session?.key);
    expect(await failure(completeNow(t, signed.uploadId))).toBe('404 UPLOAD_NOT_FOUND');
  });
});

describe('direct upload (integration)', () => {
  const sendTo = async (url: string, data: string | Buffer) => {
    const query = new URL(url).searchParams;
    return (getStorage() as LocalDiskBackend).acceptSignedUpload(query, Readable.from([Buffer.from(data)]));
  };

  it('sign -> upload to the signed URL -> complete makes a READY file; complete again answers the same', async () => {
    const t = principal('direct-ok');
    const signed = await signSingleUpload({
      principal: t,
      path: 'in/photo.jpg',
      contentType: 'image/jpeg',
      size: 100,
      md5: md5('jpeg bytes'),
      visibility: 'public',
      onConflict: 'overwrite',
    });
    expect(signed).toMatchObject({ method: 'PUT', headers: { 'content-type': 'image/jpeg' } });
    expect(signed.url).toContain('/_local/upload?');
    expect(await getUsage('direct-ok')).toMatchObject({ reservedBytes: 100, usedBytes: 0 });
    expect(await failure(completeNow(t, signed.uploadId))).toBe('409 UPLOAD_INCOMPLETE');
    expect(await sendTo(signed.url, 'jpeg bytes')).toBe('ok');
    const record = await completeNow(t, signed.uploadId);
    expect(record).toMatchObject({
      path: 'in/photo.jpg',
      size: 10,
      md5: md5('jpeg bytes'),
      visibility: 'public',
    });
    expect((await completeNow(t, signed.uploadId)).id).toBe(record.id);
    expect(await getUsage('direct-ok')).toMatchObject({ reservedBytes: 0, usedBytes: 10, fileCount: 1 });
    await expectQuotaConsistent('direct-ok');
  });

  it('complete hashes a large stored object (on worker threads) and checks the md5 given', async () => {
    const t = principal('direct-big');
    const data = randomBytes(OFFLOAD_MIN_BYTES + 77);
    const sign = (path: string, hash: string) =>
      signSingleUpload({
        principal: t,
        path,
        size: data.length,
        md5: hash,
        visibility: 'private',
        onConflict: 'overwrite',
      });
    const good = await sign('big.bin', md5(data));
    expect(await sendTo(good.url, data)).toBe('ok');
    expect(await completeNow(t, good.uploadId)).toMatchObject({ size: data.length, md5: md5(data) });

    const bad = await sign('bad.bin', md5('something else'));
    expect(await sendTo(bad.url, data)).toBe('ok');
    expect(await failure(completeNow(t, bad.uploadId))).toBe('400 MD5_MISMATCH');
    expect(await getUsage('direct-big')).toMatchObject({
      usedBytes: data.length,
      reservedBytes: 0,
      fileCount: 1,
    });
    await expectQuotaConsistent('direct-big');
  });

  it('two completes at once both answer with the file, and its bytes stay', async () => {
    const t = principal('direct-race');
    const signed = await signSingleUpload({
      principal: t,
      path: 'race.txt',
      size: 10,
      visibility: 'private',
      onConflict: 'overwrite',
    });
    expect(await sendTo(signed.url, 'race bytes')).toBe('ok');
    const [a, b] = await Promise.all([completeNow(t, signed.uploadId), completeNow(t, signed.uploadId)]);
    expect(a.id).toBe(signed.uploadId);
    expect(b.id).toBe(signed.uploadId);
    expect(storedFiles(root)).toContain(a.key);
    expect(await getUsage('direct-race')).toMatchObject({ usedBytes: 10, reservedBytes: 0, fileCount: 1 });
  });

  it('a signed URL refuses a tampered signature, a bigger body, and an expired link', async () => {
    const t = principal('direct-url');
    const signed = await signSingleUpload({
      principal: t,
      path: 'a.bin',
      size: 4,
      visibility: 'private',
      onConflict: 'overwrite',
    });
    expect(await sendTo(signed.url.replace(/sig=[^&]+/, 'sig=AAAA'), 'abcd')).toBe('forbidden');
    expect(await sendTo(signed.url.replace(/max=4/, 'max=400'), 'abcd')).toBe('forbidden');
    expect(await sendTo(signed.url, 'abcdefgh')).toBe('too-large');
    const url = new URL(signed.url);
    url.searchParams.set('exp', String(Math.floor(Date.now() / 1000) - 10));
    expect(await sendTo(url.toString(), 'abcd')).toBe('forbidden');
  });

  it('complete rejects bytes larger than declared or with a wrong md5, deletes them and releases the reservation', async () => {
    const t = principal('direct-bad');
    const big = await signSingleUpload({
      principal: t,
      path: 'big.txt',
      size: 3,
      visibility: 'private',
      onConflict: 'overwrite',
    });
    const session = await getSession('direct-bad', big.uploadId);
    // A backend without size enforcement (a presigned PUT) may let more bytes in: finalize checks.
    await getStorage().put(session?.key ?? '', Buffer.from('too many bytes'), { contentType: 'text/plain' });
    expect(await failure(completeNow(t, big.uploadId))).toBe('413 FILE_TOO_LARGE');
    expect(storedFiles(root)).not.toContain(session?.key);

    const wrong = await signSingleUpload({
      principal: t,
      path: 'wrong.txt',
      size: 10,
      md5: md5('expected'),
      visibility: 'private',
      onConflict: 'overwrite',
    });
    expect(await sendTo(wrong.url, 'different')).toBe('ok');
    expect(await failure(completeNow(t, wrong.uploadId))).toBe('400 MD5_MISMATCH');
    expect(await getUsage('direct-bad')).toMatchObject({ reservedBytes: 0, usedBytes: 0, fileCount: 0 });
    expect(storedFiles(root).filter((f) => f.startsWith('direct-bad/'))).toEqual([]);
  });

  it('the declared size must fit the quota and the size limit', async () => {
    await setLimit('direct-quota', 50);
    const t = principal('direct-quota');
    expect(
      await failure(
        signSingleUpload({
          principal: t,
          path: 'a',
          size: 51,
          visibility: 'private',
          onConflict: 'overwrite',
        }),
      ),
    ).toBe('413 QUOTA_EXCEEDED');
    env.reconfigure({ MAX_FILE_BYTES: '10' });
    try {
      expect(
        await failure(
          signSingleUpload({
            principal: t,
            path: 'a',
            size: 11,
            visibility: 'private',
            onConflict: 'overwrite',
          }),
        ),
      ).toBe('413 FILE_TOO_LARGE');
    } finally {
      env.reconfigure({ MAX_FILE_BYTES: undefined });
    }
    expect(await getUsage('direct-quota')).toMatchObject({ reservedBytes: 0 });
  });

  it('another tenant cannot complete an upload', async () => {
    const signed = await signSingleUpload({
      principal: principal('direct-owner'),
      path: 'a.txt',
      size: 5,
      visibility: 'private',
      onConflict: 'overwrite',
    });
    expect(await failure(completeNow(principal('direct-thief'), signed.uploadId))).toBe(
      '404 UPLOAD_NOT_FOUND',
    );
  });
});

describe('list (integration)', () => {
  it('pages in path order with an opaque cursor, filtered by prefix', async () => {
    const t = principal('list-pages');
    const names = ['b/2.txt', 'a/1.txt', 'b/1.txt', 'a/2.txt', 'c.txt', 'b/3.txt'];
    for (const n of names) await upload(t, n, n);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await listFiles({ tenant: 'list-pages', cursor, limit: 2 });
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((r) => r.path));
      cursor = page.cursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual([...names].sort());
    const b = await listFiles({ tenant: 'list-pages', prefix: 'b/', limit: 100 });
    expect(b.items.map((r) => r.path)).toEqual(['b/1.txt', 'b/2.txt', 'b/3.txt']);
    expect(b.cursor).toBeNull();
  });

  it('rejects a forged cursor and a cursor outside the prefix', async () => {
    expect(await failure(listFiles({ tenant: 'list-pages', cursor: 'garbage!', limit: 2 }))).toBe(
      '400 INVALID_CURSOR',
    );
    const first = await listFiles({ tenant: 'list-pages', prefix: 'a/', limit: 1 });
    expect(
      await failure(listFiles({ tenant: 'list-pages', prefix: 'b/', cursor: first.cursor ?? '', limit: 1 })),
    ).toBe('400 INVALID_CURSOR');
  });

  it('leaves expired files out', async () => {
    const t = principal('list-expired');
    await upload(t, 'old.txt', 'old', { expires: 1 });
    await upload(t, 'new.txt', 'new');
    await sleep(1100);
    const page = await listFiles({ tenant: 'list-expired', limit: 10 });
    expect(page.items.map((r) => r.path)).toEqual(['new.txt']);
    await expectQuotaConsistent('list-expired');
  });
});

describe('links and preview (integration)', () => {
  it('public files preview without a link; private ones look missing without one', async () => {
    const t = principal('prev');
    await upload(t, 'pub.txt', 'public', { visibility: 'public' });
    await upload(t, 'priv.txt', 'private');
    expect((await openPreview({ tenant: 'prev', path: 'pub.txt' })).disposition).toBe('inline');
    expect(await failure(openPreview({ tenant: 'prev', path: 'priv.txt' }))).toBe('404 NOT_FOUND');
  });

  it('a signed link opens a private file, bound to the file and disposition, until it expires', async () => {
    await upload(principal('prev-link'), 'secret.pdf', 'pdf');
    const link = await createLink({
      tenant: 'prev-link',
      path: 'secret.pdf',
      disposition: 'inline',
      baseUrl: 'http://x',
      expiresIn: 60,
    });
    const q = new URL(link.url).searchParams;
    const args = {
      tenant: 'prev-link',
      path: 'secret.pdf',
      disposition: q.get('disposition') ?? '',
      expires: q.get('expires') ?? '',
      kid: q.get('kid') ?? '',
      signature: q.get('signature') ?? '',
    };
    expect((await openPreview(args)).record.path).toBe('secret.pdf');
    // A tampered link answers like a missing file: it tells nothing about what exists.
    expect(await failure(openPreview({ ...args, disposition: 'attachment' }))).toBe('404 NOT_FOUND');
    expect(await failure(openPreview({ ...args, expires: String(Number(args.expires) + 1) }))).toBe(
      '404 NOT_FOUND',
    );
    await upload(principal('prev-other'), 'secret.pdf', 'other tenant');
    expect(await failure(openPreview({ ...args, tenant: 'prev-other' }))).toBe('404 NOT_FOUND');
    expect(await failure(openPreview({ ...args, kid: 'unknown-key' }))).toBe('403 INVALID_LINK');

    const short = await createLink({
      tenant: 'prev-link',
      path: 'secret.pdf',
      disposition: 'inline',
      baseUrl: 'http://x',
      expiresIn: 1,
    });
    const s = new URL(short.url).searchParams;
    await sleep(2100);
    expect(
      await failure(
        openPreview({
          tenant: 'prev-link',
          path: 'secret.pdf',
          disposition: 'inline',
          expires: s.get('expires') ?? '',
          kid: s.get('kid') ?? '',
          signature: s.get('signature') ?? '',
        }),
      ),
    ).toBe('403 INVALID_LINK');
  });

  it('links are refused for missing files and bad lifetimes', async () => {
    expect(
      await failure(
        createLink({ tenant: 'prev-link', path: 'nope', disposition: 'inline', baseUrl: 'http://x' }),
      ),
    ).toBe('404 NOT_FOUND');
    expect(
      await failure(
        createLink({
          tenant: 'prev-link',
          path: 'secret.pdf',
          disposition: 'inline',
          baseUrl: 'http://x',
          expiresIn: -1,
        }),
      ),
    ).toBe('400 INVALID_EXPIRES');
  });
});

describe('delete and usage (integration)', () => {
  it('delete is idempotent and releases the quota once', async () => {
    const t = principal('del');
    await upload(t, 'a.txt', 'abc');
    await deleteFile('del', undefined, 'a.txt');
    await deleteFile('del', undefined, 'a.txt');
    expect(await getUsage('del')).toMatchObject({ usedBytes: 0, fileCount: 0 });
    expect(await failure(deleteFile('del', undefined, '../a.txt'))).toBe('400 PATH_TRAVERSAL');
  });

  it('recalculate rebuilds drifted counters from the records', async () => {
    const t = principal('recalc');
    await upload(t, 'a.txt', '12345');
    await upload(t, 'b.txt', '123');
    await signSingleUpload({
      principal: t,
      path: 'c',
      size: 7,
      visibility: 'private',
      onConflict: 'overwrite',
    });
    const { getQuotaState, writeTotals } = await import('../../shared/metadata/quota');
    const { revs } = await getQuotaState('recalc');
    await writeTotals('recalc', revs, { usedBytes: 999, reservedBytes: 0, fileCount: 42 });
    expect(await recalculateUsage('recalc')).toMatchObject({ usedBytes: 8, reservedBytes: 7, fileCount: 2 });
    await expectQuotaConsistent('recalc');
  });
});
