import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  ProvisionedThroughputExceededException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { handler as onObjectCreated } from '../../functions/on-object-created';
import { handler as uploadObject } from '../../functions/upload-object';
import type { LocalDiskBackend } from '../../shared/backends/local-disk';
import { getStorage } from '../../shared/backends/registry';
import { db, tableName } from '../../shared/metadata/client';
import { getFileRecord } from '../../shared/metadata/files';
import { getUsage, setLimit } from '../../shared/metadata/quota';

import { listFiles } from '../../shared/service/list';
import { deleteFile } from '../../shared/service/remove';
import { sweepExpired } from '../../shared/service/sweep';
import { uploadFile } from '../../shared/service/upload';
import { recalculateUsage } from '../../shared/service/usage';
import { principal, setupTestEnv, type TestEnv } from '../helpers/env';
import { gate, pausedBody, readFileBytes, s3Event } from '../helpers/integrity';
import {
  completeNow,
  expectQuotaConsistent,
  failure,
  md5,
  signSingleUpload,
  storedFiles,
  upload,
} from '../helpers/service-helpers';

/**
 * Each case reproduces one failure of the integrity issue (#8) that was seen on main before the
 * fix, as a user would meet it: through the service's use cases, DynamoDB Local and local disk.
 */
let env: TestEnv;
let root: string;
beforeAll(async () => {
  env = await setupTestEnv({ PENDING_GRACE_SECONDS: '60', PRESIGN_TTL_SECONDS: '300' });
  root = join(env.root, 'default');
});
afterAll(() => env.cleanup());
afterEach(() => {
  vi.restoreAllMocks();
});

const later = (seconds: number) => Date.now() + seconds * 1000;
const objectsOf = (tenant: string) =>
  storedFiles(root).filter((f) => f.startsWith(`${tenant}/`) || f.includes(`/${tenant}/`));

/** PUT to a signed local upload URL, as a client does. */
const sendTo = (url: string, data: Buffer | string) =>
  (getStorage() as LocalDiskBackend).acceptSignedUpload(
    new URL(url).searchParams,
    Readable.from([Buffer.from(data)]),
  );
const keyOfUrl = (url: string) => new URL(url).searchParams.get('key') as string;

describe('1. a finalize race never deletes committed bytes', () => {
  for (const onConflict of ['fail', 'rename'] as const) {
    it(`complete and the storage event at once (onConflict=${onConflict}): one file, with its bytes`, async () => {
      const tenant = `race-${onConflict}`;
      const t = principal(tenant);
      const data = 'direct upload bytes';
      const signed = await signSingleUpload({
        principal: t,
        path: 'doc.pdf',
        contentType: 'application/pdf',
        size: data.length,
        visibility: 'private',
        onConflict,
      });
      expect(await sendTo(signed.url, data)).toBe('ok');

      // The explicit complete reads the object and is held there until the event's finalize is done.
      const backend = getStorage();
      const held = gate(3000);
      const get = backend.get.bind(backend);
      let first = true;
      vi.spyOn(backend, 'get').mockImplementation(async (key, range) => {
        if (first) {
          first = false;
          await held.wait();
        }
        return get(key, range);
      });
      const complete = completeNow(t, signed.uploadId);
      await held.reached;
      const event = await onObjectCreated(s3Event(keyOfUrl(signed.url))).catch((e: Error) => e);
      held.open();
      const record = await complete;
      expect(event).not.toMatchObject({ rejected: 1 });

      expect(record.id).toBe(signed.uploadId);
      expect((await listFiles({ tenant, limit: 10 })).items.map((f) => f.id)).toEqual([signed.uploadId]);
      expect(String(await readFileBytes(tenant, record.path))).toBe(data);
      expect(await getUsage(tenant)).toMatchObject({
        usedBytes: data.length,
        reservedBytes: 0,
        fileCount: 1,
      });
    });
  }
});

describe('2. a signed upload URL cannot change a finalized file', () => {
  it('a second PUT after complete leaves the file and its md5 as verified', async () => {
    const t = principal('swap');
    const original = 'verified content';
    const signed = await signSingleUpload({
      principal: t,
      path: 'a.txt',
      size: original.length,
      md5: md5(original),
      visibility: 'private',
      onConflict: 'overwrite',
    });
    expect(await sendTo(signed.url, original)).toBe('ok');
    const record = await completeNow(t, signed.uploadId);
    // The URL is still within its lifetime: whatever it accepts must not reach the file.
    await sendTo(signed.url, 'SWAPPED content');
    const bytes = await readFileBytes('swap', 'a.txt');
    expect(String(bytes)).toBe(original);
    expect(md5(bytes as Buffer)).toBe(record.md5);
    expect(await getUsage('swap')).toMatchObject({ usedBytes: original.length, reservedBytes: 0 });
    // Whatever the second PUT left is not kept: one sweep past the URL's life removes it.
    await sweepExpired({ now: later(2 * 24 * 3600), deadline: later(60) });
    expect(objectsOf('swap')).toEqual([record.key]);
  });

  it('an upload that lands after its session was reaped leaves no bytes behind', async () => {
    const t = principal('late');
    const signed = await signSingleUpload({
      principal: t,
      path: 'late.bin',
      size: 10,
      visibility: 'private',
      onConflict: 'overwrite',
    });
    // The session is reaped (its URL's life + the grace are over on the sweeper's clock)...
    await sweepExpired({ now: later(400), deadline: later(60) });
    expect(await getUsage('late')).toMatchObject({ reservedBytes: 0 });
    // ...while the client, which started in time, only now finishes sending.
    expect(await sendTo(signed.url, 'late bytes')).toBe('ok');
    await sweepExpired({ now: later(2 * 24 * 3600), deadline: later(60) });
    expect(objectsOf('late')).toEqual([]);
    expect(await failure(completeNow(t, signed.uploadId))).toBe('404 UPLOAD_NOT_FOUND');
  });
});

describe('3. releasing a blob never deletes the bytes of a new upload of the same content', () => {
  it('delete of the last reference racing an upload of the same md5', async () => {
    const t = principal('blob-order');
    const data = 'shared content';
    await upload(t, 'a/x.bin', data, { md5: md5(data) });
    const backend = getStorage();
    const held = gate(5000);
    const remove = backend.delete.bind(backend);
    const removeMany = backend.deleteMany.bind(backend);
    const hold = async (keys: string[]) => {
      if (keys.some((k) => k.includes('/blobs/'))) await held.wait();
    };
    vi.spyOn(backend, 'delete').mockImplementation(async (key) => {
      await hold([key]);
      return remove(key);
    });
    vi.spyOn(backend, 'deleteMany').mockImplementation(async (keys) => {
      await hold(keys);
      return removeMany(keys);
    });
    const deleting = deleteFile('blob-order', undefined, 'a/x.bin');
    await held.reached;
    const second = await upload(t, 'b/y.bin', data, { md5: md5(data) });
    held.open();
    await deleting;
    expect(second.status).toBe('READY');
    expect(String(await readFileBytes('blob-order', 'b/y.bin'))).toBe(data);
    await expectQuotaConsistent('blob-order');
  });
});

describe('4. a plain md5 upload never answers CONCURRENT_UPDATE', () => {
  it('the only other file of that content is deleted while the upload streams', async () => {
    const t = principal('dedupe-409');
    const data = randomBytes(4096);
    await upload(t, 'a/x.bin', data, { md5: md5(data) });
    const at = gate(5000);
    const uploading = uploadFile({
      principal: t,
      path: 'b/y.bin',
      body: pausedBody(data, 1024, at),
      size: data.length,
      md5: md5(data),
      contentType: 'application/octet-stream',
      visibility: 'private',
      onConflict: 'overwrite',
    });
    await at.reached;
    await deleteFile('dedupe-409', undefined, 'a/x.bin');
    at.open();
    const record = await uploading;
    expect(record).toMatchObject({ path: 'b/y.bin', size: data.length, md5: md5(data) });
    expect(md5((await readFileBytes('dedupe-409', 'b/y.bin')) as Buffer)).toBe(md5(data));
    await expectQuotaConsistent('dedupe-409');
  });

  it('a READY blob left at refCount 0 by a crash does not block its content', async () => {
    const tenant = 'dedupe-zero';
    const t = principal(tenant);
    const data = 'content whose last file was removed';
    const first = await upload(t, 'a.txt', data, { md5: md5(data) });
    // What a process that died between the remove transaction and the blob release leaves behind.
    await db().send(
      new DeleteCommand({ TableName: tableName(), Key: { pk: `F#${tenant}#storages.Default`, sk: 'a.txt' } }),
    );
    await db().send(
      new UpdateCommand({
        TableName: tableName(),
        Key: { pk: `B#${tenant}#storages.Default`, sk: md5(data) },
        UpdateExpression: 'SET refCount = :zero',
        ExpressionAttributeValues: { ':zero': 0 },
      }),
    );
    await recalculateUsage(tenant);
    for (const path of ['b.txt', 'c.txt']) {
      const record = await upload(t, path, data, { md5: md5(data) });
      expect(record.md5).toBe(md5(data));
      expect(String(await readFileBytes(tenant, path))).toBe(data);
    }
    expect(first.key).toBeTruthy();
    await expectQuotaConsistent(tenant);
  });
});

describe('5. honest deadlines: a live upload is never reaped, a stalled one is', () => {
  /** A body that sends `chunks` KiB, one every `everyMs`, after `stallMs` of silence following the first. */
  function slowBody(chunks: number, everyMs: number, stallMs = 0) {
    let sent = 0;
    return new Readable({
      read() {
        if (sent === chunks) return;
        const wait = sent === 1 ? stallMs + everyMs : everyMs;
        setTimeout(
          () => {
            this.push(Buffer.alloc(1024, sent));
            sent++;
            if (sent === chunks) this.push(null);
          },
          sent === 0 ? 0 : wait,
        );
      },
    });
  }
  const sweepEvery = (ms: number) => {
    const timer = setInterval(
      () => void sweepExpired({ deadline: Date.now() + 5000 }).catch(() => undefined),
      ms,
    );
    return () => clearInterval(timer);
  };

  it('an upload that keeps sending for longer than the grace keeps its session', async () => {
    env.reconfigure({ PENDING_GRACE_SECONDS: '2' });
    const stop = sweepEvery(300);
    try {
      const record = await uploadFile({
        principal: principal('live'),
        path: 'slow.bin',
        body: slowBody(10, 500),
        size: 10 * 1024,
        visibility: 'private',
        onConflict: 'overwrite',
      });
      expect(record.size).toBe(10 * 1024);
    } finally {
      stop();
      env.reconfigure({ PENDING_GRACE_SECONDS: '60' });
    }
    expect(await getUsage('live')).toMatchObject({ usedBytes: 10 * 1024, reservedBytes: 0, fileCount: 1 });
  });

  it('an upload that stops sending is reaped a grace after its last byte, and answers 408 if it resumes', async () => {
    env.reconfigure({ PENDING_GRACE_SECONDS: '2' });
    const stop = sweepEvery(300);
    try {
      const stalled = uploadFile({
        principal: principal('stalled'),
        path: 'stalled.bin',
        body: slowBody(3, 100, 5000),
        size: 3 * 1024,
        visibility: 'private',
        onConflict: 'overwrite',
      });
      const outcome = failure(stalled);
      await new Promise((r) => setTimeout(r, 3500));
      // Stalled past the grace: the reservation is free again while the connection still hangs.
      expect(await getUsage('stalled')).toMatchObject({ reservedBytes: 0 });
      expect(await outcome).toBe('408 UPLOAD_TIMEOUT');
    } finally {
      stop();
      env.reconfigure({ PENDING_GRACE_SECONDS: '60' });
    }
    expect(objectsOf('stalled')).toEqual([]);
    expect(await getUsage('stalled')).toMatchObject({ usedBytes: 0, reservedBytes: 0, fileCount: 0 });
  });
});

describe('6. DynamoDB TTL never deletes an item whose deletion has side effects', () => {
  it('files with an expiry, pending uploads and blob claims carry no ttl', async () => {
    const tenant = 'ttl';
    const t = principal(tenant);
    await upload(t, 'expiring.txt', 'bye', { expires: 60 });
    await upload(t, 'dedupe.txt', 'blob', { md5: md5('blob'), expires: 60 });
    const signed = await signSingleUpload({
      principal: t,
      path: 'pending.bin',
      size: 5,
      visibility: 'private',
      onConflict: 'overwrite',
    });
    const items = await Promise.all(
      [
        { pk: `F#${tenant}#storages.Default`, sk: 'expiring.txt' },
        { pk: `F#${tenant}#storages.Default`, sk: 'dedupe.txt' },
        { pk: `B#${tenant}#storages.Default`, sk: md5('blob') },
        { pk: `U#${tenant}`, sk: signed.uploadId },
      ].map(async (Key) => (await db().send(new GetCommand({ TableName: tableName(), Key }))).Item),
    );
    for (const item of items) {
      expect(item).toBeDefined();
      expect(item, `${item?.pk} ${item?.sk}`).not.toHaveProperty('ttl');
    }
  });
});

describe('7. quota accounting edges', () => {
  it('an upload of unknown length does not make concurrent small uploads 413', async () => {
    const tenant = 'chunked';
    await setLimit(tenant, 1024 * 1024);
    const t = principal(tenant);
    const big = randomBytes(64 * 1024);
    const at = gate(5000);
    const chunked = uploadFile({
      principal: t,
      path: 'big.bin',
      body: pausedBody(big, 1024, at),
      contentType: 'application/octet-stream',
      visibility: 'private',
      onConflict: 'overwrite',
    });
    await at.reached;
    const small = await Promise.all([1, 2, 3].map((i) => upload(t, `small-${i}.txt`, `small ${i}`)));
    at.open();
    expect((await chunked).size).toBe(big.length);
    expect(small).toHaveLength(3);
    await expectQuotaConsistent(tenant);
  });

  it('recalculate racing a live upload leaves the counters equal to the records', async () => {
    const tenant = 'recalc-race';
    const t = principal(tenant);
    await upload(t, 'before.txt', 'before');
    // Hold recalculate's write of the totals until an upload has committed in between.
    const held = gate(5000);
    const client = db();
    const hook = 'hold-recalculate-write';
    let holding = true;
    client.middlewareStack.add(
      (next) => async (args) => {
        type Update = { Key?: { pk?: unknown }; UpdateExpression?: string };
        const input = args.input as Update & { TransactItems?: { Update?: Update }[] };
        // The write of the totals: to the counter (or its shard 0, in a transaction with the others).
        const writesTotals = (u: Update | undefined) =>
          u?.Key?.pk === `Q#${tenant}` && /SET usedBytes/.test(u.UpdateExpression ?? '');
        if (
          holding &&
          (writesTotals(input) || (input.TransactItems ?? []).some((t) => writesTotals(t.Update)))
        ) {
          holding = false;
          await held.wait();
        }
        return next(args);
      },
      { step: 'initialize', name: hook },
    );
    try {
      const recalculating = recalculateUsage(tenant);
      await held.reached;
      await upload(t, 'during.txt', 'during the recount');
      held.open();
      await recalculating;
    } finally {
      client.middlewareStack.remove(hook);
    }
    await expectQuotaConsistent(tenant);
  });

  it('recalculate counts files in a storage that is no longer configured', async () => {
    const tenant = 'recalc-gone';
    const t = principal(tenant);
    await upload(t, 'here.txt', 'default storage');
    await upload(t, 'there.txt', 'other storage', { storage: 'storages.Other' });
    const before = await getUsage(tenant);
    const storages = JSON.parse(process.env.STORAGES as string) as Record<string, unknown>;
    env.reconfigure({ STORAGES: JSON.stringify({ 'storages.Default': storages['storages.Default'] }) });
    try {
      const after = await recalculateUsage(tenant);
      expect(after).toMatchObject({ usedBytes: before.usedBytes, fileCount: 2 });
    } finally {
      env.reconfigure({ STORAGES: JSON.stringify(storages) });
    }
  });
});

type Key = { sk?: unknown };
type Command = {
  Key?: Key;
  TransactItems?: {
    Put?: { Item?: Key };
    Update?: { Key?: Key };
    Delete?: { Key?: Key };
    ConditionCheck?: { Key?: Key };
  }[];
};
/** Whether a command reads or writes a "poison" item (one whose every access fails). */
const targetsPoison = (input: Command) =>
  [
    input.Key,
    ...(input.TransactItems ?? []).flatMap((t) => [
      t.Put?.Item,
      t.Update?.Key,
      t.Delete?.Key,
      t.ConditionCheck?.Key,
    ]),
  ].some((k) => typeof k?.sk === 'string' && k.sk.startsWith('poison/'));

describe('7. the sweeper', () => {
  it('items that fail every time do not starve the rest of the index', async () => {
    const tenant = 'sweep-starve';
    const t = principal(tenant);
    // Many expired files whose removal always fails (slowly), then a few healthy ones.
    for (let i = 0; i < 440; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, (_, j) => upload(t, `poison/${i + j}.txt`, 'p', { expires: 1 })),
      );
    }
    const healthy = await Promise.all(
      Array.from({ length: 20 }, (_, i) => upload(t, `healthy/${i}.txt`, 'h', { expires: 1 })),
    );
    const client = db();
    const hook = 'poison-items';
    client.middlewareStack.add(
      (next) => async (args) => {
        if (targetsPoison(args.input as Command)) {
          await new Promise((r) => setTimeout(r, 50));
          throw Object.assign(new Error('this item cannot be read or removed'), {
            name: 'PoisonItem',
            $fault: 'client',
            $metadata: { httpStatusCode: 400 },
          });
        }
        return next(args);
      },
      { step: 'initialize', name: hook },
    );
    try {
      // Each run has time for a few hundred milliseconds of poison, far less than all of it.
      for (let run = 0; run < 16; run++) {
        await sweepExpired({ now: later(10), deadline: Date.now() + 400 });
      }
    } finally {
      client.middlewareStack.remove(hook);
    }
    // Read the records themselves: a listing would hide expired files whether or not they were swept.
    const left = await Promise.all(healthy.map((r) => getFileRecord(tenant, 'storages.Default', r.path)));
    expect(left.filter(Boolean).map((r) => r?.path)).toEqual([]);
  }, 60_000);
});

describe('8. errors that are not the client fault are not 500', () => {
  it('onConflict=rename near the path limit renames within the limit', async () => {
    const t = principal('long-rename');
    const path = `${'d'.repeat(200)}/${'n'.repeat(810)}.txt`; // 1015 bytes
    await upload(t, path, 'first');
    const renamed = await upload(t, path, 'second', { onConflict: 'rename' });
    expect(renamed.path).not.toBe(path);
    expect(Buffer.byteLength(renamed.path)).toBeLessThanOrEqual(1024);
    expect(renamed.path.startsWith(`${'d'.repeat(200)}/`)).toBe(true);
    expect(renamed.path.endsWith('.txt')).toBe(true);
    expect(String(await readFileBytes('long-rename', renamed.path))).toBe('second');
  });

  const lambdaUpload = (tenant: string, path: string) => {
    const event = JSON.parse(
      readFileSync(new URL('../../events/upload-object.json', import.meta.url), 'utf8'),
    ) as Record<string, unknown> & {
      requestContext: { authorizer: { jwt: { claims: Record<string, unknown> } } };
    };
    event.requestContext.authorizer.jwt.claims.tenant = tenant;
    return uploadObject(
      {
        ...event,
        rawPath: `/v1/objects/${path}`,
        pathParameters: { path },
        body: 'hello',
        isBase64Encoded: false,
        headers: { 'content-type': 'text/plain', 'content-length': '5' },
      } as never,
      {} as never,
    );
  };

  const failingDynamo = (error: () => Error, hook: string) => {
    db().middlewareStack.add(
      () => async () => {
        throw error();
      },
      { step: 'initialize', name: hook },
    );
    return () => db().middlewareStack.remove(hook);
  };

  it('DynamoDB throttling past the SDK retries is 503 with Retry-After', async () => {
    const restore = failingDynamo(
      () => new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: {} }),
      'throttle',
    );
    try {
      const result = await lambdaUpload('throttled', 'a.txt');
      expect(result.statusCode).toBe(503);
      expect(result.headers?.['retry-after']).toMatch(/^\d+$/);
      expect(JSON.parse(String(result.body)).error.code).toBeTruthy();
    } finally {
      restore();
    }
  });

  it('transaction conflicts past every retry are 503 with Retry-After', async () => {
    const restore = failingDynamo(
      () =>
        new TransactionCanceledException({
          message: 'Transaction cancelled',
          $metadata: {},
          CancellationReasons: [{ Code: 'TransactionConflict' }, { Code: 'None' }],
        }),
      'conflict',
    );
    try {
      const result = await lambdaUpload('conflicted', 'b.txt');
      expect(result.statusCode).toBe(503);
      expect(result.headers?.['retry-after']).toMatch(/^\d+$/);
    } finally {
      restore();
    }
  });
});
