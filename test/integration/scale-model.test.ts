import { readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDiskBackend } from '../../shared/backends/local-disk';
import { getStorage, resetStorages } from '../../shared/backends/registry';
import { disableFaults, recordFailpoints, stopRecording } from '../../shared/faults';
import { db, resetDb } from '../../shared/metadata/client';
import { completeUpload, signUpload } from '../../shared/service/direct-upload';
import { listFiles } from '../../shared/service/list';
import { findFile } from '../../shared/service/read';
import { deleteFile } from '../../shared/service/remove';
import { sweepExpired } from '../../shared/service/sweep';
import { openThumbnail } from '../../shared/service/thumbnails';
import { principal, setupTestEnv, type TestEnv } from '../helpers/env';
import { upload } from '../helpers/service-helpers';

/**
 * The cost and capacity model of docs/scale.md, measured: every operation runs against DynamoDB
 * Local and local disk with the clients instrumented (each DynamoDB command and the capacity units
 * DynamoDB Local reports for it; each call of the storage backend), and the table in the document
 * must be exactly what this measures, so the document cannot drift from the code.
 * `UPDATE_SCALE_DOC=1` rewrites the table after a deliberate change.
 */
const DOC = new URL('../../docs/scale.md', import.meta.url);
const START = '<!-- measured:start -->';
const END = '<!-- measured:end -->';

/** List prices (us-east-1, on-demand), written in docs/scale.md too. */
const PRICE = {
  readUnit: 0.125 / 1e6,
  writeUnit: 0.625 / 1e6,
  s3Write: 0.005 / 1000, // PUT, COPY, POST, LIST
  s3Read: 0.0004 / 1000, // GET, HEAD
  lambdaRequest: 0.2 / 1e6,
  apiRequest: 1.0 / 1e6,
};

interface Tally {
  commands: Map<string, number>;
  readUnits: number;
  writeUnits: number;
  storage: Map<string, number>;
}

let env: TestEnv;
let tally: Tally;
const newTally = (): Tally => ({ commands: new Map(), readUnits: 0, writeUnits: 0, storage: new Map() });
/**
 * Write units as DynamoDB charges them for items under 1 KB (every item of this table is): one per
 * item written, two per item of a transaction. (Writes to the sparse sweep index, for the items
 * that carry a sweep time, come on top.)
 */
function writeUnits(command: string, input: Record<string, unknown>): number {
  if (/^(PutItem|UpdateItem|DeleteItem)$/.test(command)) return 1;
  if (command === 'TransactWriteItems') return 2 * (input.TransactItems as unknown[]).length;
  if (command === 'BatchWriteItem') {
    return Object.values(input.RequestItems as Record<string, unknown[]>).reduce(
      (n, list) => n + list.length,
      0,
    );
  }
  return 0;
}

/**
 * Read units: one per strongly consistent read of an item under 4 KB (every read here is
 * consistent); a Query's depend on the size of what it reads, as DynamoDB Local reports them.
 */
function readUnits(
  command: string,
  input: Record<string, unknown>,
  output: { ConsumedCapacity?: unknown },
): number {
  if (command === 'GetItem') return 1;
  if (command === 'BatchGetItem') {
    return Object.values(input.RequestItems as Record<string, { Keys: unknown[] }>).reduce(
      (n, r) => n + r.Keys.length,
      0,
    );
  }
  if (command === 'Query')
    return Number((output.ConsumedCapacity as { CapacityUnits?: number } | undefined)?.CapacityUnits ?? 0);
  return 0;
}

beforeAll(async () => {
  env = await setupTestEnv({ THUMBNAIL_EAGER_SIZES: '' });
});
afterAll(async () => {
  stopRecording();
  disableFaults();
  await env?.cleanup();
});

/** Runs `work` `times` times with the clients counting; the counts per run. */
async function measure(times: number, work: (i: number) => Promise<unknown>): Promise<Tally> {
  const recorded = recordFailpoints();
  resetDb();
  resetStorages();
  tally = newTally();
  db().middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as Record<string, unknown>;
      input.ReturnConsumedCapacity = 'TOTAL';
      const out = await next(args);
      const name = String(context.commandName).replace(/Command$/, '');
      tally.commands.set(name, (tally.commands.get(name) ?? 0) + 1);
      tally.writeUnits += writeUnits(name, input);
      tally.readUnits += readUnits(name, input, out.output as { ConsumedCapacity?: unknown });
      return out;
    },
    { step: 'initialize', name: 'scale-model' },
  );
  try {
    for (let i = 0; i < times; i++) await work(i);
  } finally {
    stopRecording();
    disableFaults();
    resetDb();
    resetStorages();
  }
  // Calls that reach the storage (a presign is computed here; put.midstream is a failpoint, not a call).
  for (const [point, n] of recorded) {
    const call = point.slice('backend.'.length);
    if (point.startsWith('backend.') && !call.includes('.') && !call.startsWith('presign'))
      tally.storage.set(call, n);
  }
  const per = (n: number) => n / times;
  return {
    commands: new Map([...tally.commands].map(([k, n]) => [k, per(n)])),
    readUnits: per(tally.readUnits),
    writeUnits: per(tally.writeUnits),
    storage: new Map([...tally.storage].map(([k, n]) => [k, per(n)])),
  };
}

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2));
/** Storage calls as an S3 deployment makes them (local disk's deleteMany deletes one by one). */
function s3Requests(t: Tally): { write: number; read: number; text: string } {
  const get = (k: string) => t.storage.get(k) ?? 0;
  const write = get('put') + get('copy') + get('list') + get('deleteMany') * 0; // DeleteObjects: free
  const read = get('get') + get('head');
  const parts = [...t.storage]
    .filter(([k]) => !(k === 'delete' && t.storage.has('deleteMany')))
    .map(([k, n]) => `${k} ${fmt(n)}`)
    .sort();
  return { write, read, text: parts.join(', ') || '-' };
}

interface Row {
  operation: string;
  tally: Tally;
  lambdas: number;
  api: number;
}

function render(rows: Row[]): string {
  const lines = [
    '| operation | DynamoDB requests | read units | write units | storage calls | Lambda invocations | cost per million |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const { operation, tally: t, lambdas, api } of rows) {
    const s3 = s3Requests(t);
    const cost =
      t.readUnits * PRICE.readUnit +
      t.writeUnits * PRICE.writeUnit +
      s3.write * PRICE.s3Write +
      s3.read * PRICE.s3Read +
      lambdas * PRICE.lambdaRequest +
      api * PRICE.apiRequest;
    const commands =
      [...t.commands]
        .map(([k, n]) => `${k} ${fmt(n)}`)
        .sort()
        .join(', ') || '-';
    lines.push(
      `| ${operation} | ${commands} | ${fmt(t.readUnits)} | ${fmt(t.writeUnits)} | ${s3.text} | ${lambdas} | $${(cost * 1e6).toFixed(2)} |`,
    );
  }
  return lines.join('\n');
}

describe('docs/scale.md', () => {
  it('its table of requests per operation is what the code does', async () => {
    const who = principal('scale');
    const body = Buffer.alloc(1024, 7);
    // Warm-up: the tenant's counter exists, the clients are built.
    await upload(who, 'warm/0.bin', body);
    const rows: Row[] = [];

    rows.push({
      operation: 'upload 1 KiB through the API (`PUT /v1/objects`)',
      tally: await measure(10, (i) => upload(who, `up/${i}.bin`, body)),
      lambdas: 1,
      api: 1,
    });
    rows.push({
      operation: 'file record (`GET /v1/meta`)',
      tally: await measure(10, (i) => findFile('scale', undefined, `up/${i}.bin`)),
      lambdas: 1,
      api: 1,
    });
    rows.push({
      operation: 'download (`GET /v1/objects`; S3: a 302, then the client GETs the bucket)',
      tally: await measure(10, async (i) => {
        const { record, backend } = await findFile('scale', undefined, `up/${i}.bin`);
        for await (const _ of (await backend.get(record.key)).body);
      }),
      lambdas: 1,
      api: 1,
    });
    for (let i = 0; i < 100; i += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, j) => upload(who, `list/${i + j}.bin`, body)));
    }
    rows.push({
      operation: 'list a page of 100 (`GET /v1/objects`)',
      tally: await measure(5, () => listFiles({ tenant: 'scale', prefix: 'list/', limit: 100 })),
      lambdas: 1,
      api: 1,
    });
    rows.push({
      operation: 'delete (`DELETE /v1/objects`)',
      tally: await measure(10, (i) => deleteFile('scale', undefined, `up/${i}.bin`)),
      lambdas: 1,
      api: 1,
    });
    const local = getStorage() as LocalDiskBackend;
    rows.push({
      operation: 'direct upload: plan, the client PUTs the bytes, complete',
      tally: await measure(10, async (i) => {
        const plan = await signUpload({
          principal: who,
          path: `direct/${i}.bin`,
          size: body.length,
          contentType: 'application/octet-stream',
          visibility: 'private',
          onConflict: 'overwrite',
        });
        if (plan.mode !== 'single') throw new Error('expected a single upload');
        await (getStorage() as LocalDiskBackend).acceptSignedUpload(
          new URL(plan.url).searchParams,
          Readable.from([body]),
        );
        await completeUpload(who, plan.uploadId);
      }),
      lambdas: 2,
      api: 2,
    });
    expect(local).toBeDefined();
    // Expiry: 100 files of one tenant, one sweep; per file.
    for (let i = 0; i < 100; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, (_, j) => upload(who, `exp/${i + j}.bin`, body, { expires: 1 })),
      );
    }
    const swept = await measure(1, () =>
      sweepExpired({ now: Date.now() + 5_000, deadline: Date.now() + 30_000 }),
    );
    const perFile = (t: Tally, n: number): Tally => ({
      commands: new Map([...t.commands].map(([k, v]) => [k, v / n])),
      readUnits: t.readUnits / n,
      writeUnits: t.writeUnits / n,
      storage: new Map([...t.storage].map(([k, v]) => [k, v / n])),
    });
    rows.push({
      operation: 'expiry of a file by the sweeper (100 of one tenant)',
      tally: perFile(swept, 100),
      lambdas: 0,
      api: 0,
    });
    const png = await sharp({ create: { width: 800, height: 600, channels: 3, background: '#204060' } })
      .png()
      .toBuffer();
    for (let i = 0; i < 10; i++)
      await upload(who, `img/${i}.png`, png, { contentType: 'image/png', visibility: 'public' });
    const spec = { width: 120, height: 120, fit: 'cover' as const, format: 'webp' as const, quality: 80 };
    // The same requests twice: the first renders and keeps each variant, the second finds it kept.
    for (const operation of [
      'thumbnail, first request (render and keep)',
      'thumbnail, cached (S3: a 302 to a presigned GET)',
    ]) {
      rows.push({
        operation,
        tally: await measure(10, (i) =>
          openThumbnail({ access: { tenant: 'scale', path: `img/${i}.png` }, spec }),
        ),
        lambdas: 1,
        api: 1,
      });
    }

    const table = render(rows);
    const doc = readFileSync(DOC, 'utf8');
    const at = doc.indexOf(START);
    const end = doc.indexOf(END);
    expect(at, 'docs/scale.md has the measured table between its markers').toBeGreaterThan(0);
    const current = doc.slice(at + START.length, end).trim();
    if (process.env.UPDATE_SCALE_DOC === '1' && current !== table) {
      writeFileSync(DOC, `${doc.slice(0, at + START.length)}\n${table}\n${doc.slice(end)}`);
      return;
    }
    expect(current, 'docs/scale.md: run the test with UPDATE_SCALE_DOC=1 after a deliberate change').toBe(
      table,
    );
  }, 120_000);
});
