/**
 * (j) Small requests (issue 14.1): each operation's handler, invoked in this process with an API
 * Gateway v2 event as Lambda would, against its raw baseline: the same DynamoDB calls with the same
 * DocumentClient (`db()`) and the same file operations, without the service around them.
 *
 * The raw calls are not written by hand: one call of each handler is recorded (every command its
 * DocumentClient sends, with its input), and the baseline replays those commands, with the ids and
 * path of that call replaced by fresh ones where the operation creates something (an upload's
 * session, record and counter updates; a sign's session), so every replayed condition holds as it
 * did for the handler. The recorded call is not the tenant's first (which also creates its counter). The file operations are those local disk makes: an upload's temp file
 * written, renamed into place and stat'ed, with md5 and sha256 of the bytes; a download's open,
 * fstat and read of that descriptor. The two alternate call by call, the order flipping every iteration, as in (a).
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { createReadStream, open as fsOpen, fstat } from 'node:fs';
import { mkdir, open, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Context } from 'aws-lambda';
import { lambdaContext } from '../infra/local/server';
import { db } from '../shared/metadata/client';
import { apiEvent } from './handler-latency';
import { startInProcessService } from './in-process';
import { type BenchResult, fmtMs, fmtRatio, percentile, table } from './report';

const openFile = promisify(fsOpen);
const fstatFile = promisify(fstat);

export interface SmallRequestOptions {
  /** Measured calls of each kind, per operation (list: a fifth of it). */
  iterations?: number;
  warmup?: number;
}

const GOAL = 1.15;
const KiB = 1024;
const LIST_SIZE = 1000;

type Handler = (
  event: unknown,
  context: Context,
) => Promise<{ statusCode?: number; body?: unknown; headers?: Record<string, unknown> }>;
type Sent = { command: { constructor: new (input: unknown) => unknown; input: unknown } };

/** Every command the DocumentClient sends while `work` runs. */
async function recording<T>(work: () => Promise<T>): Promise<{ result: T; sent: Sent['command'][] }> {
  const client = db() as unknown as {
    send: (command: Sent['command'], ...rest: unknown[]) => Promise<unknown>;
  };
  const original = client.send;
  const sent: Sent['command'][] = [];
  client.send = function (this: unknown, command, ...rest) {
    sent.push(command);
    return original.call(this, command, ...rest);
  };
  try {
    return { result: await work(), sent };
  } finally {
    client.send = original;
  }
}

/** A copy of a command's input with every string's occurrences of `from` (each key) replaced by its value. */
function substituted(value: unknown, map: Map<string, string>): unknown {
  if (typeof value === 'string') {
    let out = value;
    for (const [from, to] of map) out = out.split(from).join(to);
    return out;
  }
  if (value instanceof Set) return new Set([...value].map((v) => substituted(v, map)));
  if (Array.isArray(value)) return value.map((v) => substituted(v, map));
  if (value && typeof value === 'object' && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituted(v, map)]));
  }
  return value;
}

/** The 32-hex ids (newId) a recorded call created: each replay gets fresh ones. */
function idsIn(sent: Sent['command'][]): string[] {
  const found = new Set<string>();
  for (const command of sent)
    for (const m of JSON.stringify(command.input).matchAll(/[0-9a-f]{32}/g)) found.add(m[0]);
  return [...found];
}

/** Replays recorded commands in order, with the substitutions given (none: as recorded). */
async function replay(sent: Sent['command'][], map?: Map<string, string>): Promise<void> {
  for (const command of sent) {
    const Ctor = command.constructor;
    await db().send((map ? new Ctor(substituted(command.input, map)) : command) as never);
  }
}

const freshId = () => randomUUID().replaceAll('-', '');

interface Op {
  name: string;
  handler: () => Promise<void>;
  raw: () => Promise<void>;
  iterations: number;
  what: string;
}

export async function runSmallRequests(options: SmallRequestOptions = {}): Promise<BenchResult> {
  const iterations = options.iterations ?? 1000;
  const warmup = options.warmup ?? 200;
  const started = performance.now();
  const failures: string[] = [];
  const service = await startInProcessService('bench-small-', 'bench-small');
  try {
    // Loaded after the environment is set: the Powertools logger reads its level at import.
    const fn = async (name: string) =>
      (await import(`../functions/${name}.ts`)).handler as unknown as Handler;
    const upload = await fn('upload-object');
    const download = await fn('download-object');
    const meta = await fn('get-file-record');
    const list = await fn('list-objects');
    const sign = await fn('sign-upload');
    const ok = async (what: string, result: Awaited<ReturnType<Handler>>, status: number) => {
      if (result.statusCode !== status)
        throw new Error(`${what} answered ${result.statusCode}: ${String(result.body).slice(0, 300)}`);
    };
    const body = Buffer.alloc(KiB, 'x');
    const root = service.root;
    let n = 0;

    // upload: PUT /v1/objects/{path} of 1 KiB, a new path each time.
    const uploadEvent = (path: string) => apiEvent('PUT', '/v1/objects/{path+}', path, body);
    // Not the first call: that one also creates the tenant's quota counter.
    await ok('upload', await upload(uploadEvent('bench/up/first.txt'), lambdaContext('upload-object')), 201);
    const firstUpload = await recording(async () =>
      upload(uploadEvent('bench/up/recorded.txt'), lambdaContext('upload-object')),
    );
    await ok('upload', firstUpload.result, 201);
    const uploadIds = idsIn(firstUpload.sent);
    const tempDir = join(root, '.tmp');
    const rawUpload = async () => {
      const i = ++n;
      const map = new Map<string, string>(uploadIds.map((id) => [id, freshId()]));
      map.set('bench/up/recorded.txt', `bench/up/raw-${i}.txt`);
      const sent = firstUpload.sent;
      // Up to the session's transaction (the reservation), then the bytes, then the rest (commit).
      const opened = sent.findIndex((c) => c.constructor.name === 'TransactWriteCommand') + 1;
      await replay(sent.slice(0, opened), map);
      const temp = join(tempDir, randomUUID());
      const handle = await open(temp, 'wx');
      await handle.write(body);
      await handle.close();
      const md5 = createHash('md5').update(body).digest('base64');
      const sha = createHash('sha256').update(body).digest('base64');
      if (!md5 || !sha) throw new Error('no digest');
      const target = join(root, 'raw', `${i}.txt`);
      await rename(temp, target).catch(async () => {
        await mkdir(join(root, 'raw'), { recursive: true });
        await rename(temp, target);
      });
      await stat(target);
      await replay(sent.slice(opened), map);
    };

    // download, getObject: one 1 KiB file.
    const PATH = 'bench/small/record.txt';
    await ok('upload', await upload(uploadEvent(PATH), lambdaContext('upload-object')), 201);
    const firstDownload = await recording(async () =>
      download(apiEvent('GET', '/v1/objects/{path+}', PATH), lambdaContext('download-object')),
    );
    await ok('download', firstDownload.result, 200);
    const record = (await db().send(firstDownload.sent[0] as never)) as { Item?: { key: string } };
    const objectFile = join(root, ...(record.Item?.key ?? '').split('/'));
    const rawDownload = async () => {
      await replay(firstDownload.sent);
      const fd = await openFile(objectFile, 'r');
      const { size } = await fstatFile(fd);
      const chunks: Buffer[] = [];
      for await (const chunk of createReadStream('', { fd, end: size - 1 })) chunks.push(chunk as Buffer);
      if (Buffer.concat(chunks).length !== KiB) throw new Error('raw download: wrong length');
    };
    const firstMeta = await recording(async () =>
      meta(apiEvent('GET', '/v1/meta/{path+}', PATH), lambdaContext('get-file-record')),
    );
    await ok('file record', firstMeta.result, 200);

    // list: a folder of 1000 files, one page of 1000.
    console.log(`  (j): ${LIST_SIZE} files for the list ...`);
    for (let i = 0; i < LIST_SIZE; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, (_, j) =>
          upload(
            uploadEvent(`bench/list/${String(i + j).padStart(4, '0')}.txt`),
            lambdaContext('upload-object'),
          ),
        ),
      );
    }
    const listEvent = () =>
      apiEvent('GET', '/v1/objects', undefined, undefined, {
        query: { prefix: 'bench/list/', limit: String(LIST_SIZE) },
      });
    const firstList = await recording(async () => list(listEvent(), lambdaContext('list-objects')));
    await ok('list', firstList.result, 200);
    const listed = (JSON.parse(String(firstList.result.body)) as { items: unknown[] }).items.length;
    if (listed !== LIST_SIZE) failures.push(`list answered ${listed} items, not ${LIST_SIZE}`);

    // sign: POST /v1/uploads for 1 KiB (local disk: an HMAC-signed PUT URL), a new path each time.
    const signEvent = (path: string) =>
      apiEvent('POST', '/v1/uploads', undefined, Buffer.from(JSON.stringify({ path, size: KiB })), {
        contentType: 'application/json',
      });
    const firstSign = await recording(async () =>
      sign(signEvent('bench/sign/recorded.txt'), lambdaContext('sign-upload')),
    );
    await ok('sign', firstSign.result, 201);
    const signIds = idsIn(firstSign.sent);
    const rawSign = async () => {
      const i = ++n;
      const map = new Map<string, string>(signIds.map((id) => [id, freshId()]));
      map.set('bench/sign/recorded.txt', `bench/sign/raw-${i}.txt`);
      await replay(firstSign.sent, map);
      const expires = String(Math.floor(Date.now() / 1000) + 900);
      const sig = createHmac('sha256', 'bench-secret').update(`${i}\n${KiB}\n${expires}`).digest('base64url');
      new URLSearchParams({
        storage: 'storages.Default',
        key: `raw/${i}`,
        max: String(KiB),
        exp: expires,
        sig,
      });
    };

    const handlerCall = (what: string, h: Handler, event: () => unknown, status: number) => async () =>
      ok(what, await h(event(), lambdaContext(what)), status);
    const ops: Op[] = [
      {
        name: 'upload 1 KiB',
        handler: handlerCall('upload-object', upload, () => uploadEvent(`bench/up/h-${++n}.txt`), 201),
        raw: rawUpload,
        iterations,
        what:
          `\`PUT /v1/objects/{path}\` (upload-object) of 1 KiB to a new path | the recorded DynamoDB calls (${firstUpload.sent.map((c) => c.constructor.name.replace(/Command$/, '')).join(', ')}) ` +
          "with fresh ids and path, a temp file written (open wx, write, close), renamed and stat'ed, md5 and sha256 of the bytes",
      },
      {
        name: 'download 1 KiB',
        handler: handlerCall(
          'download-object',
          download,
          () => apiEvent('GET', '/v1/objects/{path+}', PATH),
          200,
        ),
        raw: rawDownload,
        iterations,
        what: `\`GET /v1/objects/{path}\` (download-object; the bytes in the answer, base64 as Lambda gives them) | the recorded ${firstDownload.sent.map((c) => c.constructor.name.replace(/Command$/, '')).join(', ')}, the file opened, fstat'ed and read by its descriptor`,
      },
      {
        name: 'getObject (file record)',
        handler: handlerCall('get-file-record', meta, () => apiEvent('GET', '/v1/meta/{path+}', PATH), 200),
        raw: () => replay(firstMeta.sent),
        iterations,
        what: `\`GET /v1/meta/{path}\` (get-file-record) | the recorded ${firstMeta.sent.map((c) => c.constructor.name.replace(/Command$/, '')).join(', ')}`,
      },
      {
        name: `list ${LIST_SIZE}`,
        handler: handlerCall('list-objects', list, listEvent, 200),
        raw: () => replay(firstList.sent),
        iterations: Math.max(20, Math.floor(iterations / 5)),
        what: `\`GET /v1/objects?prefix=bench/list/&limit=${LIST_SIZE}\` (list-objects, ${LIST_SIZE} files) | the recorded ${firstList.sent.length} ${firstList.sent.map((c) => c.constructor.name.replace(/Command$/, '')).join(', ')}`,
      },
      {
        name: 'sign (presigned upload)',
        handler: handlerCall('sign-upload', sign, () => signEvent(`bench/sign/h-${++n}.txt`), 201),
        raw: rawSign,
        iterations,
        what: `\`POST /v1/uploads {path, size: 1024}\` (sign-upload; local disk signs a PUT URL with an HMAC) | the recorded ${firstSign.sent.map((c) => c.constructor.name.replace(/Command$/, '')).join(', ')} with fresh ids and path, and an HMAC-SHA256 URL`,
      },
    ];

    const results: { op: Op; handler: number[]; raw: number[] }[] = [];
    for (const op of ops) {
      console.log(
        `  (j): ${op.name}: ${warmup} warm-up and ${op.iterations} measured calls of each kind ...`,
      );
      const time = async (f: () => Promise<void>) => {
        const t0 = performance.now();
        await f();
        return performance.now() - t0;
      };
      for (let i = 0; i < warmup; i++) {
        if (i % 2) {
          await op.raw();
          await op.handler();
        } else {
          await op.handler();
          await op.raw();
        }
      }
      const h: number[] = [];
      const r: number[] = [];
      for (let i = 0; i < op.iterations; i++) {
        if (i % 2) {
          r.push(await time(op.raw));
          h.push(await time(op.handler));
        } else {
          h.push(await time(op.handler));
          r.push(await time(op.raw));
        }
      }
      results.push({ op, handler: h.sort((a, b) => a - b), raw: r.sort((a, b) => a - b) });
    }

    const p = (values: number[], q: number) => percentile(values, q);
    const rows = results.flatMap(({ op, handler, raw }) => {
      const r50 = p(handler, 50) / p(raw, 50);
      const r99 = p(handler, 99) / p(raw, 99);
      return [
        {
          metric: `${op.name}: handler vs raw, p50`,
          value: `${fmtMs(p(handler, 50))} vs ${fmtMs(p(raw, 50))} (${fmtRatio(r50)})`,
          goal: `<= ${GOAL}x`,
          met: r50 <= GOAL,
        },
        {
          metric: `${op.name}: handler vs raw, p99`,
          value: `${fmtMs(p(handler, 99))} vs ${fmtMs(p(raw, 99))} (${fmtRatio(r99)})`,
          goal: `<= ${GOAL}x`,
          met: r99 <= GOAL,
        },
      ];
    });
    const details = [
      'DynamoDB Local (in memory, own JVM) on 127.0.0.1 and local disk in a temp folder; every handler is ' +
        '`functions/<name>.ts` `handler(event, context)` in this process, with the event and context built ' +
        'before the clock starts. The raw side of each operation replays the DynamoDB commands one call of ' +
        'that handler was recorded sending (same DocumentClient, same inputs; fresh ids and path where the ' +
        'operation creates items), plus the file operations local disk makes for it. ' +
        `${warmup} warm-up calls of each kind per operation, then the measured calls, alternating ` +
        '(handler/raw, then raw/handler, ...). p99 is nearest-rank.',
      '',
      table(
        ['operation', 'calls', 'handler p50', 'raw p50', 'ratio p50', 'handler p99', 'raw p99', 'ratio p99'],
        results.map(({ op, handler, raw }) => [
          op.name,
          String(op.iterations),
          fmtMs(p(handler, 50)),
          fmtMs(p(raw, 50)),
          `**${fmtRatio(p(handler, 50) / p(raw, 50))}**`,
          fmtMs(p(handler, 99)),
          fmtMs(p(raw, 99)),
          `**${fmtRatio(p(handler, 99) / p(raw, 99))}**`,
        ]),
      ),
      '',
      table(
        ['operation', 'handler | raw baseline'],
        results.map(({ op }) => [op.name, op.what]),
      ),
    ].join('\n');
    return {
      id: 'j',
      title:
        'small requests: upload, download, getObject, list 1000 and sign vs their raw DynamoDB calls and file operations',
      rows,
      failures,
      details,
      elapsedMs: performance.now() - started,
    };
  } finally {
    await service.stop();
  }
}
