/**
 * (a) The get-file-record handler, invoked in-process with an API Gateway v2 event, against a raw
 * DynamoDB GetItem of the same item with the same DocumentClient (`db()`), in the same run.
 * Both read with ConsistentRead, like the handler does. The two alternate call by call, and the
 * order within each pair flips every iteration, so neither gets a warmer JIT, connection or GC state.
 */
import { randomUUID } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { lambdaContext } from '../infra/local/server';
import { TENANT_SCOPES } from '../infra/local/tokens';
import { getConfig } from '../shared/config';
import { db, tableName } from '../shared/metadata/client';
import { fileKey } from '../shared/metadata/items';
import { startInProcessService } from './in-process';
import { type BenchResult, fmtMs, fmtRatio, mean, percentile, table } from './report';

export interface HandlerLatencyOptions {
  /** Measured calls of each kind. */
  iterations?: number;
  /** Unmeasured calls of each kind first (JIT, connection pool, DynamoDB Local's own warm-up). */
  warmup?: number;
}

const GOAL = 1.2;
const TENANT = 'bench';
const PATH = 'bench/latency/record.txt';

type Handler = (event: unknown, context: Context) => Promise<{ statusCode?: number; body?: unknown }>;

/**
 * The event API Gateway (HTTP API, JWT authorizer) gives the function for `method path`: a
 * `{path+}` route gets `path`, and the request may carry a query string and a body.
 */
export function apiEvent(
  method: string,
  routePath: string,
  path: string | undefined,
  body?: Buffer,
  options: { query?: Record<string, string>; contentType?: string } = {},
) {
  const rawPath = path === undefined ? routePath : routePath.replace('{path+}', path);
  const rawQueryString = new URLSearchParams(options.query ?? {}).toString();
  const now = new Date();
  return {
    version: '2.0',
    routeKey: `${method} ${routePath}`,
    rawPath,
    rawQueryString,
    ...(options.query ? { queryStringParameters: options.query } : {}),
    headers: {
      host: 'bench.local',
      'user-agent': 'bench',
      ...(body
        ? { 'content-type': options.contentType ?? 'text/plain', 'content-length': String(body.length) }
        : {}),
    },
    ...(path === undefined ? {} : { pathParameters: { path } }),
    requestContext: {
      accountId: 'bench',
      apiId: 'bench',
      domainName: 'bench.local',
      domainPrefix: 'bench',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'bench' },
      requestId: randomUUID(),
      routeKey: `${method} ${routePath}`,
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
      authorizer: {
        jwt: { claims: { sub: 'bench-user', tenant: TENANT, scope: TENANT_SCOPES }, scopes: null },
      },
    },
    ...(body ? { body: body.toString('base64'), isBase64Encoded: true } : { isBase64Encoded: false }),
  };
}

export async function runHandlerLatency(options: HandlerLatencyOptions = {}): Promise<BenchResult> {
  const iterations = options.iterations ?? 3000;
  const warmup = options.warmup ?? 500;
  const started = performance.now();
  const failures: string[] = [];
  const service = await startInProcessService('bench-latency-', 'bench-latency');
  try {
    // Loaded after the environment is set: the Powertools logger reads its level at import.
    const upload = (await import('../functions/upload-object')).handler as unknown as Handler;
    const getRecord = (await import('../functions/get-file-record')).handler as unknown as Handler;

    const uploaded = await upload(
      apiEvent('PUT', '/v1/objects/{path+}', PATH, Buffer.from('benchmark record\n')),
      lambdaContext('upload-object'),
    );
    if (uploaded.statusCode !== 201) {
      throw new Error(`the upload answered ${uploaded.statusCode}: ${String(uploaded.body)}`);
    }

    const key = fileKey(TENANT, getConfig().defaultStorage, PATH);
    const raw = async () => {
      const { Item } = await db().send(
        new GetCommand({ TableName: tableName(), Key: key, ConsistentRead: true }),
      );
      if (!Item) throw new Error('raw GetItem found no item');
    };
    const viaHandler = async () => {
      const result = await getRecord(
        apiEvent('GET', '/v1/meta/{path+}', PATH),
        lambdaContext('get-file-record'),
      );
      if (result.statusCode !== 200)
        throw new Error(`handler answered ${result.statusCode}: ${String(result.body)}`);
    };
    // The event and context are built outside the timed call: Lambda hands them over ready-made.
    const timeHandler = async () => {
      const event = apiEvent('GET', '/v1/meta/{path+}', PATH);
      const ctx = lambdaContext('get-file-record');
      const t0 = performance.now();
      const result = await getRecord(event, ctx);
      const t1 = performance.now();
      if (result.statusCode !== 200)
        throw new Error(`handler answered ${result.statusCode}: ${String(result.body)}`);
      return t1 - t0;
    };
    const timeRaw = async () => {
      const t0 = performance.now();
      await raw();
      return performance.now() - t0;
    };

    for (let i = 0; i < warmup; i++) {
      if (i % 2) {
        await raw();
        await viaHandler();
      } else {
        await viaHandler();
        await raw();
      }
    }
    const handlerMs: number[] = [];
    const rawMs: number[] = [];
    for (let i = 0; i < iterations; i++) {
      if (i % 2) {
        rawMs.push(await timeRaw());
        handlerMs.push(await timeHandler());
      } else {
        handlerMs.push(await timeHandler());
        rawMs.push(await timeRaw());
      }
    }

    const h = [...handlerMs].sort((a, b) => a - b);
    const r = [...rawMs].sort((a, b) => a - b);
    const stats = (s: number[]) => ({
      p50: percentile(s, 50),
      p90: percentile(s, 90),
      p99: percentile(s, 99),
      mean: mean(s),
      min: s[0] as number,
      max: s[s.length - 1] as number,
    });
    const hs = stats(h);
    const rs = stats(r);
    const p50Ratio = hs.p50 / rs.p50;
    const p99Ratio = hs.p99 / rs.p99;
    const row = (name: string, s: ReturnType<typeof stats>) => [
      name,
      fmtMs(s.p50),
      fmtMs(s.p90),
      fmtMs(s.p99),
      fmtMs(s.mean),
      fmtMs(s.min),
      fmtMs(s.max),
    ];
    const details = [
      `DynamoDB Local (in memory, own JVM) on 127.0.0.1; one file uploaded first through the upload-object handler. ` +
        `${warmup} warm-up calls of each kind, then ${iterations} measured calls of each kind, alternating ` +
        `(handler/raw, then raw/handler, ...). Handler = \`functions/get-file-record.ts\` \`handler(event, context)\` ` +
        '(middy, Powertools context, claims -> principal, path validation, GetItem, expiry check, attachment JSON). ' +
        'Raw = `db().send(new GetCommand({ ..., ConsistentRead: true }))` with the same DocumentClient. Times are ' +
        'wall-clock per awaited call (`performance.now()`); the event and context are built before the clock starts.',
      '',
      table(
        ['', 'p50', 'p90', 'p99', 'mean', 'min', 'max'],
        [row('get-file-record handler', hs), row('raw GetItem', rs)],
      ),
      '',
      `Ratio handler / raw: p50 **${fmtRatio(p50Ratio)}**, p99 **${fmtRatio(p99Ratio)}** ` +
        `(goal <= ${GOAL}x; absolute handler overhead at p50: ${fmtMs(hs.p50 - rs.p50)}).`,
    ].join('\n');
    return {
      id: 'a',
      title: 'get-file-record handler vs raw GetItem',
      rows: [
        { metric: 'handler p50 / p99', value: `${fmtMs(hs.p50)} / ${fmtMs(hs.p99)}` },
        { metric: 'raw GetItem p50 / p99', value: `${fmtMs(rs.p50)} / ${fmtMs(rs.p99)}` },
        { metric: 'ratio p50', value: fmtRatio(p50Ratio), goal: `<= ${GOAL}x`, met: p50Ratio <= GOAL },
        { metric: 'ratio p99', value: fmtRatio(p99Ratio), goal: `<= ${GOAL}x`, met: p99Ratio <= GOAL },
      ],
      failures,
      details,
      elapsedMs: performance.now() - started,
    };
  } finally {
    await service.stop();
  }
}
