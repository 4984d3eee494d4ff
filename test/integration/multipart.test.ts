import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { LocalDiskBackend } from '../../shared/backends/local-disk';
import { getStorage } from '../../shared/backends/registry';
import { getFileRecord } from '../../shared/metadata/files';
import { getSession } from '../../shared/metadata/sessions';
import {
  abortUpload,
  completeUpload,
  listUploadParts,
  signUpload,
  signUploadParts,
  uploadStatus,
} from '../../shared/service/direct-upload';
import { planParts } from '../../shared/service/multipart';
import { sweepExpired } from '../../shared/service/sweep';
import { getUsage } from '../../shared/service/usage';
import { principal, setupTestEnv, type TestEnv } from '../helpers/env';
import { violations } from '../helpers/invariants';
import { completeNow, expectQuotaConsistent, failure, md5 } from '../helpers/service-helpers';

/**
 * Multipart direct uploads through the service on local disk (parts over signed URLs, as the local
 * server takes them): what is refused at complete, what an abandoned upload leaves (nothing), and
 * the quota after each, checked against a recount.
 */
const MiB = 1024 * 1024;
let env: TestEnv;
beforeAll(async () => {
  env = await setupTestEnv();
});
afterAll(async () => {
  await env?.cleanup();
});

const bytes = (size: number, seed: number) => {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) b.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
  return b;
};

async function plan(tenant: string, path: string, size: number, extra: { md5?: string } = {}) {
  const signed = await signUpload({
    principal: principal(tenant),
    path,
    contentType: 'application/octet-stream',
    size,
    visibility: 'private',
    onConflict: 'overwrite',
    multipart: true,
    ...extra,
  });
  if (signed.mode !== 'multipart') throw new Error('expected a multipart plan');
  return signed;
}

/** A multipart plan declared as a PNG (for the tests of the type by magic bytes). */
const signPng = (tenant: string, path: string, size: number) =>
  signUpload({
    principal: principal(tenant),
    path,
    contentType: 'image/png',
    size,
    visibility: 'private',
    onConflict: 'overwrite',
    multipart: true,
  });

/** PUTs a part to its signed URL the way the local server does, and answers the part's ETag. */
async function send(tenant: string, uploadId: string, partNumber: number, body: Buffer) {
  const { parts } = await signUploadParts(principal(tenant), uploadId, [partNumber]);
  const local = getStorage() as LocalDiskBackend;
  const accepted = await local.acceptSigned(new URL(parts[0]?.url ?? '').searchParams, Readable.from([body]));
  expect(accepted.outcome).toBe('ok');
  return accepted.etag;
}

const partFolders = () => {
  const dir = join(env.root, 'default', '.tmp', 'parts');
  return existsSync(dir) ? readdirSync(dir) : [];
};

describe('multipart direct uploads (integration, local disk)', () => {
  it('plans parts of 5 MiB or more, at most 10,000, and refuses bad part numbers', async () => {
    const small = await plan('mp-plan', 'a.bin', 11 * MiB);
    expect([small.partSize, small.parts]).toEqual([5 * MiB, 3]);
    // Beyond 50,000 MiB, parts grow so that 10,000 of them still cover the file (up to 5 TiB).
    for (const size of [100 * 1024 * MiB, 5 * 1024 * 1024 * MiB]) {
      const huge = planParts(size);
      expect(huge.parts).toBeLessThanOrEqual(10_000);
      expect(huge.partSize % MiB).toBe(0);
      expect(huge.partSize * huge.parts).toBeGreaterThanOrEqual(size);
      expect(huge.partSize * (huge.parts - 1)).toBeLessThan(size);
    }
    expect(planParts(100 * 1024 * MiB).partSize).toBe(11 * MiB);
    const t = principal('mp-plan');
    for (const numbers of [[0], [4], [1, 1], [1.5], []]) {
      expect(await failure(signUploadParts(t, small.uploadId, numbers)), String(numbers)).toBe(
        '400 INVALID_PARTS',
      );
    }
    expect(await failure(signUploadParts(t, 'f'.repeat(32), [1]))).toBe('404 UPLOAD_NOT_FOUND');
    // Someone else's upload is not found either.
    expect(await failure(signUploadParts(principal('mp-other'), small.uploadId, [1]))).toBe(
      '404 UPLOAD_NOT_FOUND',
    );
    await abortUpload(t, small.uploadId);
    expect(partFolders()).toEqual([]);
    expect(await getUsage('mp-plan')).toMatchObject({ reservedBytes: 0, usedBytes: 0 });
  });

  it('a one-request upload stops at 5 GiB; larger files must be multipart', async () => {
    env.reconfigure({ MAX_FILE_BYTES: String(20 * 1024 * MiB) });
    onTestFinished(() => env.reconfigure({ MAX_FILE_BYTES: undefined }));
    const t = principal('mp-single');
    const input = {
      principal: t,
      path: 'big.bin',
      contentType: 'application/octet-stream',
      size: 5 * 1024 * MiB + 1,
      visibility: 'private' as const,
      onConflict: 'overwrite' as const,
    };
    expect(await failure(signUpload({ ...input, multipart: false }))).toBe('413 FILE_TOO_LARGE');
    // Over the quota (10 GiB by default), a plan is refused and its multipart upload aborted.
    expect(await failure(signUpload({ ...input, size: 11 * 1024 * MiB }))).toBe('413 QUOTA_EXCEEDED');
    expect(partFolders()).toEqual([]);
    expect(await getUsage('mp-single')).toMatchObject({ reservedBytes: 0 });
  });

  it('parts larger than declared are refused at complete: nothing kept, the reservation released', async () => {
    const p = await plan('mp-big', 'big.bin', 6 * MiB);
    await send('mp-big', p.uploadId, 1, bytes(5 * MiB, 1));
    await send('mp-big', p.uploadId, 2, bytes(2 * MiB, 2));
    expect(
      await failure(completeNow(principal('mp-big'), p.uploadId, [{ partNumber: 1 }, { partNumber: 2 }])),
    ).toBe('413 FILE_TOO_LARGE');
    // What is left is the answer, for a client that asks again: no reservation, no object.
    expect(await getSession('mp-big', p.uploadId)).toMatchObject({
      status: 'FAILED',
      reservedBytes: 0,
      error: { code: 'FILE_TOO_LARGE' },
    });
    expect(await getFileRecord('mp-big', 'storages.Default', 'big.bin')).toBeUndefined();
    expect(await getUsage('mp-big')).toMatchObject({ reservedBytes: 0, usedBytes: 0, fileCount: 0 });
    expect(await violations('mp-big', { settled: true })).toEqual([]);
  });

  it('a wrong md5 is refused at complete; the right one makes the file, usage exact', async () => {
    const good = Buffer.concat([bytes(5 * MiB, 3), bytes(MiB, 4)]);
    const wrong = await plan('mp-md5', 'w.bin', good.length, { md5: md5('something else') });
    await send('mp-md5', wrong.uploadId, 1, good.subarray(0, 5 * MiB));
    await send('mp-md5', wrong.uploadId, 2, good.subarray(5 * MiB));
    const t = principal('mp-md5');
    expect(await failure(completeNow(t, wrong.uploadId, [{ partNumber: 1 }, { partNumber: 2 }]))).toBe(
      '400 MD5_MISMATCH',
    );
    const right = await plan('mp-md5', 'r.bin', good.length, { md5: md5(good) });
    const e1 = await send('mp-md5', right.uploadId, 1, good.subarray(0, 5 * MiB));
    const e2 = await send('mp-md5', right.uploadId, 2, good.subarray(5 * MiB));
    const listed = await listUploadParts(t, right.uploadId);
    expect(listed.uploaded.map((x) => [x.partNumber, x.size, x.etag])).toEqual([
      [1, 5 * MiB, e1],
      [2, MiB, e2],
    ]);
    const file = await completeNow(t, right.uploadId, [
      { partNumber: 1, etag: e1 },
      { partNumber: 2, etag: e2 },
    ]);
    expect(file).toMatchObject({ size: good.length, md5: md5(good), path: 'r.bin' });
    expect(await getUsage('mp-md5')).toMatchObject({
      reservedBytes: 0,
      usedBytes: good.length,
      fileCount: 1,
    });
    await expectQuotaConsistent('mp-md5');
    expect(await violations('mp-md5', { settled: true })).toEqual([]);
  });

  it('bytes of a type that is not allowed are refused at complete, whatever type was declared', async () => {
    env.reconfigure({ ALLOWED_CONTENT_TYPES: 'image/*' });
    try {
      const t = principal('mp-type');
      const sign = (path: string, size: number) => signPng('mp-type', path, size);
      // A PDF declared as a PNG.
      const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n'), bytes(64 * 1024, 8)]);
      const liar = await sign('liar.png', pdf.length);
      await send('mp-type', liar.uploadId, 1, pdf);
      expect(await failure(completeNow(t, liar.uploadId, [{ partNumber: 1 }]))).toBe(
        '415 UNSUPPORTED_MEDIA_TYPE',
      );
      expect(await getFileRecord('mp-type', 'storages.Default', 'liar.png')).toBeUndefined();
      // Real PNG bytes pass.
      const png = Buffer.concat([
        Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'),
        bytes(64 * 1024, 9),
      ]);
      const honest = await sign('honest.png', png.length);
      await send('mp-type', honest.uploadId, 1, png);
      expect(await completeNow(t, honest.uploadId, [{ partNumber: 1 }])).toMatchObject({
        size: png.length,
      });
      expect(await getUsage('mp-type')).toMatchObject({
        reservedBytes: 0,
        usedBytes: png.length,
        fileCount: 1,
      });
      expect(await violations('mp-type', { settled: true })).toEqual([]);
    } finally {
      env.reconfigure({ ALLOWED_CONTENT_TYPES: undefined });
    }
  });

  describe('large objects are checked asynchronously: complete answers VERIFYING within the API budget', () => {
    const wait = async (tenant: string, uploadId: string, until: (status: string) => boolean) => {
      for (let i = 0; i < 100; i++) {
        const status = await uploadStatus(principal(tenant), uploadId);
        if (until(status.status)) return status;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('the asynchronous finalize did not finish');
    };
    const sendAll = async (tenant: string, uploadId: string, whole: Buffer) => {
      await send(tenant, uploadId, 1, whole.subarray(0, 5 * MiB));
      await send(tenant, uploadId, 2, whole.subarray(5 * MiB));
      return [{ partNumber: 1 }, { partNumber: 2 }];
    };
    const whole = Buffer.concat([bytes(5 * MiB, 11), bytes(MiB, 12)]);

    it('in the background of a long-lived process: VERIFYING, then READY; usage exact', async () => {
      env.reconfigure({ VERIFY_INLINE_BYTES: String(MiB), BACKGROUND_FINALIZE: 'true' });
      onTestFinished(() =>
        env.reconfigure({ VERIFY_INLINE_BYTES: undefined, BACKGROUND_FINALIZE: undefined }),
      );
      const t = principal('mp-async');
      const p = await plan('mp-async', 'async.bin', whole.length, { md5: md5(whole) });
      const parts = await sendAll('mp-async', p.uploadId, whole);
      expect(await completeUpload(t, p.uploadId, parts)).toEqual({ verifying: true });
      const done = await wait('mp-async', p.uploadId, (s) => s !== 'VERIFYING');
      expect(done).toMatchObject({ status: 'READY', file: { size: whole.length, md5: md5(whole) } });
      // Asked again, complete answers the file.
      expect(await completeUpload(t, p.uploadId, parts)).toMatchObject({ record: { md5: md5(whole) } });
      expect(await getUsage('mp-async')).toMatchObject({
        reservedBytes: 0,
        usedBytes: whole.length,
        fileCount: 1,
      });
      expect(await violations('mp-async', { settled: true })).toEqual([]);
    });

    it('a refusal found asynchronously is readable: FAILED with its code, nothing kept', async () => {
      env.reconfigure({ VERIFY_INLINE_BYTES: String(MiB), BACKGROUND_FINALIZE: 'true' });
      onTestFinished(() =>
        env.reconfigure({ VERIFY_INLINE_BYTES: undefined, BACKGROUND_FINALIZE: undefined }),
      );
      const t = principal('mp-async-bad');
      const p = await plan('mp-async-bad', 'bad.bin', whole.length, { md5: md5('not these bytes') });
      const parts = await sendAll('mp-async-bad', p.uploadId, whole);
      expect(await completeUpload(t, p.uploadId, parts)).toEqual({ verifying: true });
      const failed = await wait('mp-async-bad', p.uploadId, (s) => s !== 'VERIFYING');
      expect(failed).toMatchObject({ status: 'FAILED', error: { code: 'MD5_MISMATCH' } });
      expect(await failure(completeUpload(t, p.uploadId, parts))).toBe('400 MD5_MISMATCH');
      await abortUpload(t, p.uploadId); // nothing left to abort
      expect(await getUsage('mp-async-bad')).toMatchObject({ reservedBytes: 0, usedBytes: 0, fileCount: 0 });
      expect(await violations('mp-async-bad', { settled: true })).toEqual([]);
      // The memory of the refusal ends like a completed upload's.
      await sweepExpired({ now: Date.now() + 2 * 24 * 3600 * 1000, deadline: Date.now() + 20_000 });
      expect(await getSession('mp-async-bad', p.uploadId)).toBeUndefined();
    });

    it('without a background task (Lambda, no storage event), the sweeper finishes it when it comes due', async () => {
      env.reconfigure({ VERIFY_INLINE_BYTES: String(MiB), BACKGROUND_FINALIZE: 'false' });
      onTestFinished(() =>
        env.reconfigure({ VERIFY_INLINE_BYTES: undefined, BACKGROUND_FINALIZE: undefined }),
      );
      const t = principal('mp-async-sweep');
      const p = await plan('mp-async-sweep', 'swept.bin', whole.length, { md5: md5(whole) });
      const parts = await sendAll('mp-async-sweep', p.uploadId, whole);
      expect(await completeUpload(t, p.uploadId, parts)).toEqual({ verifying: true });
      expect((await uploadStatus(t, p.uploadId)).status).toBe('VERIFYING');
      await sweepExpired({ now: Date.now() + 10 * 60_000, deadline: Date.now() + 20_000 });
      expect(await uploadStatus(t, p.uploadId)).toMatchObject({
        status: 'READY',
        file: { size: whole.length },
      });
      expect(await getUsage('mp-async-sweep')).toMatchObject({ reservedBytes: 0, usedBytes: whole.length });
      expect(await violations('mp-async-sweep', { settled: true })).toEqual([]);
    });
  });

  it('a handed-off upload whose staging object is lost is reaped by the sweeper, not retried forever', async () => {
    env.reconfigure({ VERIFY_INLINE_BYTES: String(MiB), BACKGROUND_FINALIZE: 'false' });
    onTestFinished(() => env.reconfigure({ VERIFY_INLINE_BYTES: undefined, BACKGROUND_FINALIZE: undefined }));
    const t = principal('mp-lost');
    const whole = Buffer.concat([bytes(5 * MiB, 13), bytes(MiB, 14)]);
    const p = await plan('mp-lost', 'lost.bin', whole.length, { md5: md5(whole) });
    await send('mp-lost', p.uploadId, 1, whole.subarray(0, 5 * MiB));
    await send('mp-lost', p.uploadId, 2, whole.subarray(5 * MiB));
    expect(await completeUpload(t, p.uploadId, [{ partNumber: 1 }, { partNumber: 2 }])).toEqual({
      verifying: true,
    });
    const session = await getSession('mp-lost', p.uploadId);
    await getStorage().delete(session?.key as string);
    await sweepExpired({ now: Date.now() + 10 * 60_000, deadline: Date.now() + 20_000 });
    expect(await getSession('mp-lost', p.uploadId)).toBeUndefined();
    expect(await getUsage('mp-lost')).toMatchObject({ reservedBytes: 0, usedBytes: 0, fileCount: 0 });
    expect(await violations('mp-lost', { settled: true })).toEqual([]);
  });

  it('a large upload without an md5 is joined in place and finalized at once, trusting the parts: no copy, no read', async () => {
    env.reconfigure({ VERIFY_INLINE_BYTES: String(MiB) });
    onTestFinished(() => env.reconfigure({ VERIFY_INLINE_BYTES: undefined }));
    const t = principal('mp-inplace');
    const whole = Buffer.concat([bytes(5 * MiB, 15), bytes(MiB, 16)]);
    const p = await plan('mp-inplace', 'in/place.bin', whole.length);
    const { parts: urls } = await signUploadParts(t, p.uploadId, [1]);
    await send('mp-inplace', p.uploadId, 1, whole.subarray(0, 5 * MiB));
    await send('mp-inplace', p.uploadId, 2, whole.subarray(5 * MiB));
    const outcome = await completeUpload(t, p.uploadId, [{ partNumber: 1 }, { partNumber: 2 }]);
    // Above VERIFY_INLINE_BYTES, yet answered at once: nothing is read, so nothing is handed off.
    expect(outcome).toMatchObject({ record: { size: whole.length, path: 'in/place.bin' } });
    const record = (outcome as { record: { key: string; md5?: string; sha256?: string } }).record;
    expect(record.key).toBe(`_assembled/mp-inplace/${p.uploadId.slice(0, 2)}/${p.uploadId}.bin`);
    expect([record.md5, record.sha256]).toEqual([undefined, undefined]);
    const stored = join(env.root, 'default', ...record.key.split('/'));
    expect(md5(readFileSync(stored))).toBe(md5(whole));
    // A part URL used again after complete writes nothing: its upload is over.
    const local = getStorage() as LocalDiskBackend;
    const replay = await local.acceptSigned(
      new URL(urls[0]?.url ?? '').searchParams,
      Readable.from([bytes(5 * MiB, 99)]),
    );
    expect(replay.outcome).toBe('not-found');
    expect(md5(readFileSync(stored))).toBe(md5(whole));
    expect(partFolders()).toEqual([]);
    expect(await getUsage('mp-inplace')).toMatchObject({
      reservedBytes: 0,
      usedBytes: whole.length,
      fileCount: 1,
    });
    expect(await violations('mp-inplace', { settled: true })).toEqual([]);
    // Overwritten, the joined object of the old file is deleted like any file's object.
    const next = await plan('mp-inplace', 'in/place.bin', whole.length);
    await send('mp-inplace', next.uploadId, 1, whole.subarray(0, 5 * MiB));
    await send('mp-inplace', next.uploadId, 2, whole.subarray(5 * MiB));
    await completeNow(t, next.uploadId, [{ partNumber: 1 }, { partNumber: 2 }]);
    expect(existsSync(stored)).toBe(false);
    expect(await violations('mp-inplace', { settled: true })).toEqual([]);
  });

  it('without reading the whole object, the size and the type by magic bytes are still checked', async () => {
    env.reconfigure({ VERIFY_INLINE_BYTES: String(MiB), ALLOWED_CONTENT_TYPES: 'image/*' });
    onTestFinished(() =>
      env.reconfigure({ VERIFY_INLINE_BYTES: undefined, ALLOWED_CONTENT_TYPES: undefined }),
    );
    const t = principal('mp-noread');
    const sign = (path: string, size: number) => signPng('mp-noread', path, size);
    // Larger than declared.
    const big = await sign('big.png', 6 * MiB);
    await send('mp-noread', big.uploadId, 1, bytes(5 * MiB, 17));
    await send('mp-noread', big.uploadId, 2, bytes(2 * MiB, 18));
    expect(await failure(completeNow(t, big.uploadId, [{ partNumber: 1 }, { partNumber: 2 }]))).toBe(
      '413 FILE_TOO_LARGE',
    );
    // A PDF declared as a PNG: its first bytes say so (a ranged read).
    const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n'), bytes(6 * MiB, 19)]);
    const liar = await sign('liar.png', pdf.length);
    await send('mp-noread', liar.uploadId, 1, pdf.subarray(0, 5 * MiB));
    await send('mp-noread', liar.uploadId, 2, pdf.subarray(5 * MiB));
    expect(await failure(completeNow(t, liar.uploadId, [{ partNumber: 1 }, { partNumber: 2 }]))).toBe(
      '415 UNSUPPORTED_MEDIA_TYPE',
    );
    for (const id of [big.uploadId, liar.uploadId]) {
      expect(await uploadStatus(t, id)).toMatchObject({ status: 'FAILED' });
    }
    expect(await getUsage('mp-noread')).toMatchObject({ reservedBytes: 0, usedBytes: 0, fileCount: 0 });
    expect(await violations('mp-noread', { settled: true })).toEqual([]);
  });

  it('files up to 5 TiB by default; an md5 only where the file can be read for it (VERIFY_READ_MAX_BYTES)', async () => {
    const TiB = 1024 * 1024 * MiB;
    env.reconfigure({ DEFAULT_QUOTA_BYTES: String(6 * TiB), VERIFY_READ_MAX_BYTES: String(8 * MiB) });
    onTestFinished(() =>
      env.reconfigure({ DEFAULT_QUOTA_BYTES: undefined, VERIFY_READ_MAX_BYTES: undefined }),
    );
    const t = principal('mp-limits');
    const huge = await plan('mp-limits', 'huge.bin', 5 * TiB);
    expect([huge.partSize, huge.parts]).toEqual([525 * MiB, Math.ceil((5 * TiB) / (525 * MiB))]);
    expect(await getUsage('mp-limits')).toMatchObject({ reservedBytes: 5 * TiB });
    await abortUpload(t, huge.uploadId);
    expect(await failure(plan('mp-limits', 'over.bin', 5 * TiB + 1))).toBe('413 FILE_TOO_LARGE');
    expect(await failure(plan('mp-limits', 'md5.bin', 8 * MiB + 1, { md5: md5('x') }))).toBe(
      '400 MD5_NOT_VERIFIABLE',
    );
    // At the limit the md5 is taken (and checked by reading).
    const atLimit = await plan('mp-limits', 'md5.bin', 8 * MiB, { md5: md5('x') });
    await abortUpload(t, atLimit.uploadId);
    expect(await getUsage('mp-limits')).toMatchObject({ reservedBytes: 0, usedBytes: 0 });
    expect(partFolders()).toEqual([]);
    expect(await violations('mp-limits', { settled: true })).toEqual([]);
  });

  it('the sweeper reaps an abandoned multipart upload: parts dropped, reservation released', async () => {
    env.reconfigure({ MULTIPART_TTL_SECONDS: '1' });
    try {
      const p = await plan('mp-abandoned', 'gone.bin', 6 * MiB);
      await send('mp-abandoned', p.uploadId, 1, bytes(5 * MiB, 5));
      expect(partFolders().length).toBeGreaterThan(0);
      expect((await getUsage('mp-abandoned')).reservedBytes).toBe(6 * MiB);
      await new Promise((r) => setTimeout(r, 1100));
      const swept = await sweepExpired({ deadline: Date.now() + 20_000 });
      expect(swept.uploads).toBeGreaterThanOrEqual(1);
      expect(await getSession('mp-abandoned', p.uploadId)).toBeUndefined();
      expect(await getUsage('mp-abandoned')).toMatchObject({ reservedBytes: 0, usedBytes: 0 });
      // The garbage of the staging key carried the multipart upload: its parts are gone.
      expect(partFolders()).toEqual([]);
      expect(await violations('mp-abandoned', { settled: true })).toEqual([]);
    } finally {
      env.reconfigure({ MULTIPART_TTL_SECONDS: undefined });
    }
  });
});
