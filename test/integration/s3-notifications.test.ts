import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { S3Event } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler } from '../../functions/on-object-created';
import { type EmulatedObjectCreated, type S3Emulator, startS3rver } from '../../infra/local/emulators';
import {
  createObjectCreatedBridge,
  type Delivery,
  type Invoke,
  type ObjectCreatedBridge,
} from '../../infra/local/s3-notifications';
import type { PresignedUpload } from '../../shared/backends/contract';
import { getFileRecord } from '../../shared/metadata/files';
import { getUsage } from '../../shared/metadata/quota';
import { getSession } from '../../shared/metadata/sessions';
import { signUpload, signUploadParts } from '../../shared/service/direct-upload';
import { ASSEMBLED_PREFIX, NOTIFIED_PREFIXES, STAGING_PREFIX } from '../../shared/service/keys';
import { principal, setupTestEnv, type TestEnv } from '../helpers/env';
import { completeNow, expectQuotaConsistent, md5 } from '../helpers/service-helpers';
import { sendUpload } from './backend-contract';

/**
 * The S3 emulator's notifications, bridged to on-object-created as `STORAGE_EMULATOR=s3 npm start`
 * does (infra/local/runtime.ts): real s3rver, real handler, the shared DynamoDB Local.
 */
const BUCKET = 'events';
let emulator: S3Emulator;
let bridge: ObjectCreatedBridge;
let env: TestEnv;
let directory: string;
let client: S3Client;
/** Every event the handler got, and what it answered. */
const invocations: { event: S3Event; result?: unknown; error?: unknown }[] = [];
/** Set by a test to make the next invocations fail before the handler runs. */
let failNext = 0;
const logged: { message: string; details: Record<string, unknown> }[] = [];

const invoke: Invoke = async (event, context) => {
  const entry: (typeof invocations)[number] = { event };
  invocations.push(entry);
  if (failNext > 0) {
    failNext--;
    entry.error = new Error('injected failure');
    throw entry.error;
  }
  entry.result = await handler(event);
  expect(context.functionName).toBe('on-object-created');
  return entry.result;
};

const pending: { key: string; delivery: Promise<Delivery> }[] = [];

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 's3rver-events-'));
  bridge = createObjectCreatedBridge({
    bucket: BUCKET,
    prefixes: NOTIFIED_PREFIXES,
    region: 'eu-west-3',
    retryDelaysMs: [50, 100],
    invoke,
    log: (message, details) => logged.push({ message, details }),
  });
  emulator = await startS3rver({
    directory,
    bucket: BUCKET,
    allowMismatchedSignatures: true,
    onObjectCreated: (created) => {
      pending.push({ key: created.key, delivery: bridge.deliver(created) });
    },
  });
  env = await setupTestEnv({
    STORAGES: JSON.stringify({
      'storages.Default': {
        type: 's3',
        bucketName: BUCKET,
        region: 'eu-west-3',
        endPoint: emulator.endpoint,
        allowHttp: true,
        accessKeyId: emulator.accessKeyId,
        accessKeySecret: emulator.accessKeySecret,
        pathStyle: true,
      },
    }),
  });
  client = new S3Client({
    region: 'eu-west-3',
    endpoint: emulator.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: emulator.accessKeyId, secretAccessKey: emulator.accessKeySecret },
  });
});
afterAll(async () => {
  client?.destroy();
  await bridge?.stop();
  await emulator?.stop();
  await env?.cleanup();
  rmSync(directory, { recursive: true, force: true });
});

/**
 * Waits until every delivery has ended (including those of objects the handler wrote meanwhile)
 * and returns what became of them, by key.
 */
async function settled(): Promise<Record<string, Delivery[]>> {
  const out: Record<string, Delivery[]> = {};
  while (pending.length) {
    for (const { key, delivery } of pending.splice(0)) out[key] = [...(out[key] ?? []), await delivery];
  }
  return out;
}

/** The deliveries of staging (and assembled) keys; every other object must have been filtered out. */
async function settledStaging(): Promise<Record<string, Delivery[]>> {
  const all = await settled();
  const notified = (key: string) => NOTIFIED_PREFIXES.some((prefix) => key.startsWith(prefix));
  const staging = Object.entries(all).filter(([key]) => notified(key));
  for (const [key, results] of Object.entries(all)) {
    if (!notified(key))
      expect(
        results.every((r) => r === 'filtered'),
        key,
      ).toBe(true);
  }
  return Object.fromEntries(staging);
}

const eventsFor = (key: string) =>
  invocations.filter((i) => i.event.Records.some((r) => r.s3.object.key === key)).map((i) => i.event);

async function signed(tenant: string, path: string, body: string) {
  const s = (await signUpload({
    principal: principal(tenant),
    path,
    contentType: 'text/plain',
    size: body.length,
    visibility: 'private',
    onConflict: 'overwrite',
  })) as PresignedUpload & { uploadId: string };
  const session = await getSession(tenant, s.uploadId);
  return { ...s, key: session?.key as string };
}

describe('S3 emulator notifications -> on-object-created', () => {
  it('a direct upload to the bucket is finalized by the AWS-shaped event; a duplicate changes nothing', async () => {
    const body = 'posted by a browser';
    const upload = await signed('ev-ok', 'notes/a.txt', body);
    expect(upload.key.startsWith(STAGING_PREFIX)).toBe(true);
    const sent = await sendUpload(upload, body);
    expect(sent.status).toBeLessThan(300);
    await sent.body?.cancel();
    const results = await settled();
    expect(results[upload.key]).toEqual(['delivered']);

    const record = await getFileRecord('ev-ok', 'storages.Default', 'notes/a.txt');
    expect(record).toMatchObject({ id: upload.uploadId, status: 'READY', size: body.length, md5: md5(body) });
    expect(await getUsage('ev-ok')).toMatchObject({ usedBytes: body.length, reservedBytes: 0, fileCount: 1 });
    // The promoted copy is the service's own write: created in the bucket, filtered out.
    expect(results[record?.key as string]).toEqual(['filtered']);

    // Exactly the notification AWS sends for a POST upload.
    const [event] = eventsFor(upload.key);
    expect(event?.Records).toHaveLength(1);
    expect(event?.Records[0]).toMatchObject({
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: 'eu-west-3',
      eventName: 'ObjectCreated:Post',
      userIdentity: { principalId: expect.any(String) },
      requestParameters: { sourceIPAddress: expect.stringMatching(/127\.0\.0\.1/) },
      responseElements: { 'x-amz-request-id': expect.any(String), 'x-amz-id-2': expect.any(String) },
      s3: {
        s3SchemaVersion: '1.0',
        configurationId: expect.any(String),
        bucket: {
          name: BUCKET,
          arn: `arn:aws:s3:::${BUCKET}`,
          ownerIdentity: { principalId: expect.any(String) },
        },
        object: {
          key: upload.key,
          size: body.length,
          eTag: md5(body),
          sequencer: expect.stringMatching(/^[0-9A-F]+$/),
        },
      },
    });
    expect(Number.isNaN(Date.parse(event?.Records[0]?.eventTime ?? ''))).toBe(false);
    expect(invocations.find((i) => i.event === event)?.result).toEqual({
      finalized: 1,
      ignored: 0,
      rejected: 0,
      discarded: 0,
    });

    // S3 delivers at least once: the same object reported twice more is harmless.
    const again: EmulatedObjectCreated = {
      bucket: BUCKET,
      key: upload.key,
      size: body.length,
      eTag: md5(body),
      eventName: 'ObjectCreated:Post',
    };
    expect(await Promise.all([bridge.deliver(again), bridge.deliver(again)])).toEqual([
      'delivered',
      'delivered',
    ]);
    expect(invocations.slice(-2).map((i) => i.result)).toEqual([
      { finalized: 0, ignored: 0, rejected: 0, discarded: 1 },
      { finalized: 0, ignored: 0, rejected: 0, discarded: 1 },
    ]);
    expect(await getFileRecord('ev-ok', 'storages.Default', 'notes/a.txt')).toEqual(record);
    expect(await getUsage('ev-ok')).toMatchObject({ usedBytes: body.length, reservedBytes: 0, fileCount: 1 });
    await expectQuotaConsistent('ev-ok');
  });

  it('a multipart upload: complete and the CompleteMultipartUpload event finalize it once; a duplicate changes nothing', async () => {
    const MiB = 1024 * 1024;
    const parts = [Buffer.alloc(5 * MiB, 1), Buffer.alloc(MiB, 2)];
    const whole = Buffer.concat(parts);
    const t = principal('ev-mp');
    const plan = await signUpload({
      principal: t,
      path: 'big/disk.img',
      contentType: 'application/octet-stream',
      size: whole.length,
      visibility: 'private',
      onConflict: 'overwrite',
      multipart: true,
      md5: md5(whole),
    });
    expect(plan.mode).toBe('multipart');
    const { parts: urls } = await signUploadParts(t, plan.uploadId, [1, 2]);
    const etags: string[] = [];
    for (const [i, part] of urls.entries()) {
      const res = await fetch(part.url, { method: 'PUT', headers: part.headers, body: parts[i] });
      expect(res.status).toBe(200);
      etags.push(res.headers.get('etag') ?? '');
    }
    // Parts are no objects: nothing reached the handler yet.
    const key = (await getSession('ev-mp', plan.uploadId))?.key as string;
    expect(eventsFor(key)).toEqual([]);
    // The complete joins the parts; the storage event of the joined object races its finalize.
    const file = await completeNow(t, plan.uploadId, [
      { partNumber: 1, etag: etags[0] },
      { partNumber: 2, etag: etags[1] },
    ]);
    expect(file).toMatchObject({ size: whole.length, md5: md5(whole) });
    // Joined in place: the file is the object the parts were joined into, no copy of it.
    expect(key.startsWith(ASSEMBLED_PREFIX)).toBe(true);
    expect(file.key).toBe(key);
    // A part URL used again after complete writes nothing: the upload id it names is over.
    const replay = await fetch(urls[0]?.url as string, {
      method: 'PUT',
      headers: urls[0]?.headers,
      body: 'x',
    });
    expect(replay.status).toBe(404);
    const results = await settled();
    expect(results[key]?.every((r) => r === 'delivered')).toBe(true);
    expect(eventsFor(key)[0]?.Records[0]?.eventName).toBe('ObjectCreated:CompleteMultipartUpload');
    // Delivered once more, as S3 may: the same file, the same usage.
    const [event] = eventsFor(key);
    await handler(event as S3Event);
    expect(await getFileRecord('ev-mp', 'storages.Default', 'big/disk.img')).toMatchObject({
      id: plan.uploadId,
      size: whole.length,
    });
    // ...and the object is still the file's (a staging object would be discarded by now).
    const stored = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    const storedBytes = Buffer.from((await stored.Body?.transformToByteArray()) ?? []);
    expect(md5(storedBytes)).toBe(md5(whole));
    expect(await getUsage('ev-mp')).toMatchObject({
      usedBytes: whole.length,
      reservedBytes: 0,
      fileCount: 1,
    });
    await expectQuotaConsistent('ev-mp');
  });

  it('reports a PUT, a copy and a completed multipart upload by their AWS names, with size and ETag', async () => {
    const base = `${STAGING_PREFIX}ev-names/`;
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${base}put.bin`, Body: 'put bytes' }));
    await client.send(
      new CopyObjectCommand({
        Bucket: BUCKET,
        Key: `${base}copy.bin`,
        CopySource: `${BUCKET}/${base}put.bin`,
      }),
    );
    const { UploadId } = await client.send(
      new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: `${base}multi part.bin` }),
    );
    const part = await client.send(
      new UploadPartCommand({
        Bucket: BUCKET,
        Key: `${base}multi part.bin`,
        UploadId,
        PartNumber: 1,
        Body: 'a part',
      }),
    );
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: BUCKET,
        Key: `${base}multi part.bin`,
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
      }),
    );
    expect(await settledStaging()).toEqual({
      [`${base}put.bin`]: ['delivered'],
      [`${base}copy.bin`]: ['delivered'],
      [`${base}multi part.bin`]: ['delivered'],
    });
    const object = (key: string) => eventsFor(key)[0]?.Records[0];
    expect(object(`${base}put.bin`)).toMatchObject({
      eventName: 'ObjectCreated:Put',
      s3: { object: { size: 9, eTag: md5('put bytes') } },
    });
    expect(object(`${base}copy.bin`)).toMatchObject({
      eventName: 'ObjectCreated:Copy',
      s3: { object: { size: 9, eTag: md5('put bytes') } },
    });
    // s3rver calls this one ObjectCreated:Post; AWS (and so the bridge) CompleteMultipartUpload.
    // The key is URL-encoded as S3 does it: a space is "+".
    expect(object(`${base}multi+part.bin`)).toMatchObject({
      eventName: 'ObjectCreated:CompleteMultipartUpload',
      s3: { object: { size: 6, eTag: expect.stringMatching(/^[0-9a-f]{32}(-\d+)?$/) } },
    });
    // The sequencer orders the events of one key; here it grows with every event.
    const [put = '', copy = ''] = [`${base}put.bin`, `${base}copy.bin`].map(
      (k) => object(k)?.s3.object.sequencer ?? '',
    );
    expect(put < copy).toBe(true);
  });

  it('only objects under the staging prefix of its own bucket reach the handler', async () => {
    const before = invocations.length;
    await client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'ev-filter/a1/file.txt', Body: 'api upload' }),
    );
    await client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: '_stagingx/ev-filter/x.txt', Body: 'near miss' }),
    );
    expect(await settled()).toEqual({
      'ev-filter/a1/file.txt': ['filtered'],
      '_stagingx/ev-filter/x.txt': ['filtered'],
    });
    expect(
      await bridge.deliver({
        bucket: 'another-bucket',
        key: `${STAGING_PREFIX}ev-filter/0123456789abcdef0123456789abcdef.txt`,
        size: 1,
        eTag: md5('x'),
        eventName: 'ObjectCreated:Put',
      }),
    ).toBe('filtered');
    expect(invocations.length).toBe(before);
  });

  it('a failed invocation is retried with backoff, then dropped and logged; the emulator keeps answering', async () => {
    const body = 'retried';
    const upload = await signed('ev-retry', 'r.txt', body);
    failNext = 2;
    const sent = await sendUpload(upload, body);
    expect(sent.status).toBeLessThan(300);
    await sent.body?.cancel();
    expect(await settledStaging()).toEqual({ [upload.key]: ['delivered'] });
    expect(eventsFor(upload.key)).toHaveLength(3);
    // The same event each time, as Lambda retries it.
    expect(new Set(eventsFor(upload.key).map((e) => e.Records[0]?.s3.object.sequencer)).size).toBe(1);
    expect(logged.slice(-2).map((l) => [l.message, l.details.attempt])).toEqual([
      ['on-object-created failed; the event is retried', 1],
      ['on-object-created failed; the event is retried', 2],
    ]);
    expect(await getFileRecord('ev-retry', 'storages.Default', 'r.txt')).toMatchObject({ status: 'READY' });

    failNext = 3;
    const lost = `${STAGING_PREFIX}ev-retry/0123456789abcdef0123456789abcdef.txt`;
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: lost, Body: 'never processed' }));
    expect(await settledStaging()).toEqual({ [lost]: ['failed'] });
    expect(eventsFor(lost)).toHaveLength(3);
    expect(logged.at(-1)).toMatchObject({
      message: expect.stringContaining('dropped'),
      details: { key: lost, attempt: 3, error: 'injected failure' },
    });
    // Still serving.
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'ev-retry/after.txt', Body: 'ok' }));
    expect(await settled()).toEqual({ 'ev-retry/after.txt': ['filtered'] });
  });

  it('stop() drops pending retries and waits for running invocations', async () => {
    const stopping = createObjectCreatedBridge({
      bucket: BUCKET,
      prefixes: NOTIFIED_PREFIXES,
      region: 'eu-west-3',
      retryDelaysMs: [60_000],
      invoke: async () => {
        throw new Error('down');
      },
      log: () => undefined,
    });
    const created: EmulatedObjectCreated = {
      bucket: BUCKET,
      key: `${STAGING_PREFIX}ev-stop/x.txt`,
      size: 1,
      eTag: md5('x'),
      eventName: 'ObjectCreated:Put',
    };
    const delivery = stopping.deliver(created);
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await stopping.stop();
    expect(await delivery).toBe('stopped');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await stopping.deliver(created)).toBe('stopped');
  });
});
