/**
 * (c) Many concurrent small uploads for one tenant whose quota fits exactly half of them, through
 * the local server over HTTP: exactly `limit / size` must succeed (201), the rest must fail with 413
 * QUOTA_EXCEEDED, and afterwards the counters must be exact (used = successes x size, no bytes
 * left reserved). A wrong count is a correctness failure.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { join } from 'node:path';
import { readApiError } from '../shared/http/read-error';
import { json, request, startChildServer } from './local-server';
import { type BenchResult, benchTempDir, fmtBytes, fmtMB, fmtMs, percentile, table } from './report';

export interface ConcurrentQuotaOptions {
  uploads?: number;
  fileBytes?: number;
  quotaBytes?: number;
}

/** Uploads done one at a time first, to compare with the concurrent burst. */
const SEQUENTIAL = 50;

interface Usage {
  limitBytes?: number;
  usedBytes?: number;
  reservedBytes?: number;
  fileCount?: number;
}

export async function runConcurrentQuota(options: ConcurrentQuotaOptions = {}): Promise<BenchResult> {
  const uploads = options.uploads ?? 200;
  const fileBytes = options.fileBytes ?? 1024;
  const quotaBytes = options.quotaBytes ?? 100 * 1024;
  const expectedOk = Math.min(uploads, Math.floor(quotaBytes / fileBytes));
  const started = performance.now();
  const failures: string[] = [];
  const temp = benchTempDir('bench-quota-');
  const workDir = temp.path;
  const tenant = `bench-quota-${randomBytes(4).toString('hex')}`;
  const agent = new http.Agent({ keepAlive: true, maxSockets: uploads });
  let server: Awaited<ReturnType<typeof startChildServer>> | undefined;
  try {
    server = await startChildServer(join(workDir, 'server'));
    const base = server.url;
    const operator = await server.operatorToken();
    const user = await server.token(tenant, 'bench-user');
    const warmUser = await server.token('bench-warm', 'bench-user');

    const quota = await request(`${base}/v1/quota/${tenant}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
      body: JSON.stringify({ limitBytes: quotaBytes }),
    });
    if (quota.status !== 200) throw new Error(`setting the quota answered ${quota.status}: ${quota.body}`);

    // Loads the upload handler and opens the client's connections before the clock starts
    // (another tenant, so the measured tenant's counters start at zero).
    await Promise.all(
      Array.from({ length: Math.min(uploads, 50) }, (_, i) =>
        request(`${base}/v1/objects/warm/${i}.bin`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${warmUser}`, 'content-type': 'application/octet-stream' },
          body: randomBytes(fileBytes),
          agent,
        }),
      ),
    );

    // For scale: the same uploads one at a time, without contention on one quota counter.
    const sequentialMs: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      const s = performance.now();
      const r = await request(`${base}/v1/objects/sequential/${i}.bin`, {
        method: 'PUT',
        headers: {
          authorization: `Bearer ${warmUser}`,
          'content-type': 'application/octet-stream',
          'content-length': fileBytes,
        },
        body: randomBytes(fileBytes),
        agent,
      });
      sequentialMs.push(performance.now() - s);
      if (r.status !== 201) throw new Error(`a sequential upload answered ${r.status}: ${r.body}`);
    }
    sequentialMs.sort((a, b) => a - b);

    const bodies = Array.from({ length: uploads }, () => randomBytes(fileBytes));
    const latencies: number[] = [];
    const t0 = performance.now();
    const responses = await Promise.all(
      bodies.map(async (body, i) => {
        const s = performance.now();
        const r = await request(`${base}/v1/objects/concurrent/file-${String(i).padStart(3, '0')}.bin`, {
          method: 'PUT',
          headers: {
            authorization: `Bearer ${user}`,
            'content-type': 'application/octet-stream',
            'content-length': body.length,
          },
          body,
          agent,
        });
        latencies.push(performance.now() - s);
        return r;
      }),
    );
    const elapsedMs = performance.now() - t0;

    const counts = new Map<string, number>();
    for (const r of responses) {
      const code =
        r.status === 201 ? '' : ` ${readApiError(r.status, r.body.toString('utf8'), r.headers).code}`;
      const key = `${r.status}${code}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const ok = counts.get('201') ?? 0;
    const refused = counts.get('413 QUOTA_EXCEEDED') ?? 0;
    if (ok !== expectedOk) failures.push(`${ok} uploads succeeded, expected exactly ${expectedOk}`);
    if (refused !== uploads - expectedOk) {
      failures.push(`${refused} uploads failed with 413 QUOTA_EXCEEDED, expected ${uploads - expectedOk}`);
    }
    const others = [...counts].filter(([k]) => k !== '201' && k !== '413 QUOTA_EXCEEDED');
    if (others.length)
      failures.push(`unexpected answers: ${others.map(([k, n]) => `${n} x ${k}`).join(', ')}`);

    const usageResponse = await request(`${base}/v1/usage`, {
      method: 'GET',
      headers: { authorization: `Bearer ${user}` },
    });
    const usage = json<Usage>(usageResponse);
    const expected: Usage = {
      limitBytes: quotaBytes,
      usedBytes: expectedOk * fileBytes,
      reservedBytes: 0,
      fileCount: expectedOk,
    };
    for (const [k, v] of Object.entries(expected)) {
      const actual = usage[k as keyof Usage];
      if (actual !== v) failures.push(`GET /v1/usage: ${k} is ${actual}, expected ${v}`);
    }
    const list = await request(`${base}/v1/objects?limit=1000`, {
      method: 'GET',
      headers: { authorization: `Bearer ${user}` },
    });
    const listed = json<{ items?: unknown[] }>(list).items?.length;
    if (listed !== expectedOk) failures.push(`GET /v1/objects lists ${listed} files, expected ${expectedOk}`);
    const memory = server.memory();

    latencies.sort((a, b) => a - b);
    const countsText = [...counts]
      .sort()
      .map(([k, n]) => `${n} x ${k}`)
      .join(', ');
    const details = [
      `${uploads} \`PUT /v1/objects/concurrent/file-NNN.bin\` of ${fmtBytes(fileBytes)} each (with Content-Length), ` +
        `all started at once over ${uploads} keep-alive connections, for tenant \`${tenant}\` whose quota was set to ` +
        `${fmtBytes(quotaBytes)} through \`PUT /v1/quota/{tenant}\` with an operator token. The upload handler ` +
        'was loaded and the connections opened by uploads of another tenant first. The server is a separate process ' +
        'with its own DynamoDB Local.',
      '',
      table(
        ['check', 'expected', 'actual', 'ok'],
        [
          ['201 Created', String(expectedOk), String(ok), ok === expectedOk ? 'yes' : '**no**'],
          [
            '413 QUOTA_EXCEEDED',
            String(uploads - expectedOk),
            String(refused),
            refused === uploads - expectedOk ? 'yes' : '**no**',
          ],
          [
            'other answers',
            '0',
            String(others.reduce((a, [, n]) => a + n, 0)),
            others.length ? '**no**' : 'yes',
          ],
          ...Object.entries(expected).map(([k, v]) => [
            `usage ${k}`,
            String(v),
            String(usage[k as keyof Usage]),
            usage[k as keyof Usage] === v ? 'yes' : '**no**',
          ]),
          ['files listed', String(expectedOk), String(listed), listed === expectedOk ? 'yes' : '**no**'],
        ],
      ),
      '',
      `All answers: ${countsText}. Elapsed (first request sent to last answer): **${fmtMs(elapsedMs)}**; ` +
        `per-request latency p50 ${fmtMs(percentile(latencies, 50))}, p99 ${fmtMs(percentile(latencies, 99))}, ` +
        `max ${fmtMs(latencies[latencies.length - 1] ?? Number.NaN)} ` +
        `(${((uploads / elapsedMs) * 1000).toFixed(0)} uploads/s). Server VmHWM: ${memory ? fmtMB(memory.hwm) : 'n/a'}.`,
      '',
      `For scale, before the burst: ${SEQUENTIAL} uploads of the same size one at a time (another tenant, no ` +
        `contention) took p50 ${fmtMs(percentile(sequentialMs, 50))}, p99 ${fmtMs(percentile(sequentialMs, 99))} ` +
        `each, i.e. ${(1000 / (sequentialMs.reduce((a, b) => a + b, 0) / SEQUENTIAL)).toFixed(0)} uploads/s serially.`,
    ].join('\n');

    return {
      id: 'c',
      title: `${uploads} concurrent ${fmtBytes(fileBytes)} uploads against a ${fmtBytes(quotaBytes)} quota`,
      rows: [
        {
          metric: 'succeeded / refused',
          value: `${ok} / ${refused}`,
          goal: `exactly ${expectedOk} / ${uploads - expectedOk}`,
          met: ok === expectedOk && refused === uploads - expectedOk && others.length === 0,
        },
        {
          metric: 'counter usedBytes / fileCount / reservedBytes',
          value: `${usage.usedBytes} / ${usage.fileCount} / ${usage.reservedBytes}`,
          goal: `${expected.usedBytes} / ${expected.fileCount} / 0`,
          met:
            usage.usedBytes === expected.usedBytes &&
            usage.fileCount === expected.fileCount &&
            usage.reservedBytes === 0,
        },
        { metric: 'elapsed', value: fmtMs(elapsedMs) },
      ],
      failures,
      details,
      elapsedMs: performance.now() - started,
    };
  } finally {
    agent.destroy();
    await server?.stop();
    temp.remove();
  }
}
