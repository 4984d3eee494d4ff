/**
 * (h) The sweeper at scale: expired files removed per second by the sweeper as it is (shards at
 * once, a page of the index read in one batch, a tenant's files removed many per transaction) and
 * by the per-item algorithm it replaced (a GetItem, a transaction and a garbage delete per file,
 * the shards one after another), side by side in one run on the same DynamoDB Local and disk,
 * with the DynamoDB requests and object deletes each makes per expired file, counted.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { resetStorages } from '../shared/backends/registry';
import { emitFileEvent } from '../shared/events';
import { disableFaults, recordFailpoints, stopRecording } from '../shared/faults';
import type { Garbage } from '../shared/metadata/blobs';
import { db, resetDb, tableName } from '../shared/metadata/client';
import { removeFileRecord } from '../shared/metadata/files';
import { garbageKey, toFileRecord } from '../shared/metadata/items';
import { getUsage } from '../shared/metadata/quota';
import { SWEEP_SHARDS } from '../shared/metadata/schema';
import { getDueItem, queryDue } from '../shared/metadata/sweep-index';
import { deleteObjects } from '../shared/service/gc';
import type { TenantPrincipal } from '../shared/service/principal';
import { sweepExpired } from '../shared/service/sweep';
import { uploadFile } from '../shared/service/upload';
import { startInProcessService } from './in-process';
import { type BenchResult, fmtRatio, table } from './report';

export interface SweeperOptions {
  /** Expired files per timed round (default 2000), over TENANTS tenants. */
  files?: number;
  rounds?: number;
}

const TENANTS = 4;
const GOAL = 3;

const principalOf = (tenant: string): TenantPrincipal => ({
  tenant,
  userId: 'bench',
  permissions: new Set(['upload', 'download', 'delete']),
});

/** `count` files of 1 KiB that expire in 1 s, spread over the tenants, 16 uploads at a time. */
async function expiringFiles(round: string, count: number): Promise<void> {
  const body = randomBytes(1024);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      await uploadFile({
        principal: principalOf(`sweep-${i % TENANTS}`),
        path: `${round}/f${i}.bin`,
        body: Readable.from([body]),
        size: body.length,
        contentType: 'application/octet-stream',
        expires: 1,
        visibility: 'private',
        onConflict: 'overwrite',
      });
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

/**
 * The per-item sweep this change replaced (shared/service/sweep.ts before it), for expired files:
 * the shards one after another, a page at a time; per due item a consistent GetItem and a
 * transaction of its own (record, counter, garbage), 8 items at a time; per file a FileExpired
 * event; then the page's objects deleted in one batch and each garbage item with a DeleteItem.
 */
async function sweepPerItem(now: number): Promise<number> {
  let files = 0;
  for (let shard = 0; shard < SWEEP_SHARDS; shard++) {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await queryDue(shard, now, 100, start);
      const garbage: Garbage[] = [];
      for (let i = 0; i < page.entries.length; i += 8) {
        await Promise.all(
          page.entries.slice(i, i + 8).map(async ({ key }) => {
            const due = await getDueItem(key);
            if (!due || due.sweepAt > now || !key.pk.startsWith('F#')) return;
            const record = toFileRecord(due.item);
            if (!record || typeof record.expiresAt !== 'number' || record.expiresAt > now) return;
            const removed = await removeFileRecord(record, 'expired');
            if (!removed.removed) return;
            files++;
            garbage.push(...removed.garbage);
            await emitFileEvent('FileExpired', record);
          }),
        );
      }
      const byStorage = new Map<string, Garbage[]>();
      for (const g of garbage) byStorage.set(g.storage, [...(byStorage.get(g.storage) ?? []), g]);
      for (const [storage, list] of byStorage) {
        await deleteObjects(storage, list);
        await Promise.all(
          list.map((g) =>
            db().send(
              new DeleteCommand({ TableName: tableName(), Key: garbageKey(g.tenant, g.storage, g.key) }),
            ),
          ),
        );
      }
      start = page.next;
    } while (start);
  }
  return files;
}

const sweepAsItIs = async (now: number) =>
  (await sweepExpired({ now, deadline: Date.now() + 600_000 })).files;

type Algorithm = { name: string; sweep: (now: number) => Promise<number> };

/** Everything of the round's files gone: records, counters, garbage (by the counters and a recount of objects). */
async function checkEmpty(failures: string[], label: string, objectsLeft: () => number): Promise<void> {
  for (let t = 0; t < TENANTS; t++) {
    const usage = await getUsage(`sweep-${t}`);
    if (usage.usedBytes !== 0 || usage.fileCount !== 0 || usage.reservedBytes !== 0) {
      failures.push(`${label}: tenant sweep-${t} left with ${JSON.stringify(usage)}`);
    }
  }
  const left = objectsLeft();
  if (left !== 0) failures.push(`${label}: ${left} objects left on disk`);
}

export async function runSweeper(options: SweeperOptions = {}): Promise<BenchResult> {
  const count = options.files ?? 2000;
  const rounds = options.rounds ?? 2;
  const started = performance.now();
  const failures: string[] = [];
  const service = await startInProcessService('bench-sweeper-', 'bench-sweeper');
  const root = service.root;
  const { readdirSync } = await import('node:fs');
  const objectsLeft = () => {
    let n = 0;
    for (let t = 0; t < TENANTS; t++) {
      try {
        n += readdirSync(join(root, `sweep-${t}`), { recursive: true, withFileTypes: true }).filter((d) =>
          d.isFile(),
        ).length;
      } catch {
        // no folder: nothing left
      }
    }
    return n;
  };
  try {
    const algorithms: Algorithm[] = [
      { name: 'per item (before)', sweep: sweepPerItem },
      { name: 'batched (now)', sweep: sweepAsItIs },
    ];

    /** One round: fresh expired files, then one sweep of them, timed; everything must be gone. */
    const round = async (algorithm: Algorithm, label: string, files: number) => {
      await expiringFiles(label, files);
      const now = Date.now() + 5_000;
      const t0 = performance.now();
      const removed = await algorithm.sweep(now);
      const seconds = (performance.now() - t0) / 1000;
      if (removed !== files)
        failures.push(`${label}: ${algorithm.name} removed ${removed} of ${files} files`);
      await checkEmpty(failures, label, objectsLeft);
      return { files: removed, seconds };
    };

    // Warm-up (the JIT, DynamoDB Local's), untimed.
    for (const a of algorithms) await round(a, `warm-${a.name.split(' ')[0]}`, 200);

    const measured = new Map<string, { files: number; seconds: number }[]>(
      algorithms.map((a) => [a.name, []]),
    );
    for (let r = 0; r < rounds; r++) {
      for (const a of algorithms)
        measured.get(a.name)?.push(await round(a, `r${r}-${a.name.split(' ')[0]}`, count));
    }

    // Requests per expired file, counted on a round of their own (failpoints count every call).
    const perFile = new Map<string, Map<string, number>>();
    for (const a of algorithms) {
      await expiringFiles(`count-${a.name.split(' ')[0]}`, 400);
      const recorded = recordFailpoints();
      resetDb();
      resetStorages();
      try {
        await a.sweep(Date.now() + 5_000);
      } finally {
        stopRecording();
        disableFaults();
        resetDb();
        resetStorages();
      }
      const counts = new Map<string, number>();
      for (const [name, n] of recorded) {
        if (name.startsWith('dynamodb.') || name.startsWith('backend.')) counts.set(name, n / 400);
      }
      perFile.set(a.name, counts);
      await checkEmpty(failures, `count ${a.name}`, objectsLeft);
    }

    const rate = (r: { files: number; seconds: number }) => r.files / r.seconds;
    const median = (values: number[]) =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
    const rates = algorithms.map((a) => median((measured.get(a.name) ?? []).map(rate)));
    const ratio = (rates[1] as number) / (rates[0] as number);
    const commands = [...new Set([...perFile.values()].flatMap((m) => [...m.keys()]))].sort();

    const details = [
      `${count} expired files of 1 KiB per round, over ${TENANTS} tenants (${count / TENANTS} each), uploaded through the service with \`expires: 1\`, then swept once with the clock 5 s ahead; local disk, DynamoDB Local, in this process. Rounds alternate the two algorithms (${rounds} each, after an untimed warm-up of 200 files each), and after every round each tenant's counters must be 0 and no object may be left.`,
      '',
      "- **per item (before)**: the sweep this change replaced, kept here as the baseline: the shards one after another, a page of 100 at a time; per due item a consistent GetItem and its own transaction (record, counter, garbage), 8 items at a time; a FileExpired event per file; the page's objects deleted in one batch per storage, then a DeleteItem per garbage item.",
      "- **batched (now)**: `sweepExpired`: the shards at once; a page read with one BatchGetItem; a tenant's files removed in transactions of up to 49 files with one counter update; the objects deleted in one batch per storage, the garbage items forgotten 25 per BatchWriteItem; events 10 per PutEvents (none here: no bus).",
      '',
      table(
        ['round', ...algorithms.map((a) => `${a.name} files/s`)],
        Array.from({ length: rounds }, (_, r) => [
          String(r + 1),
          ...algorithms.map((a) => {
            const m = measured.get(a.name)?.[r];
            return m ? `${rate(m).toFixed(0)} (${m.seconds.toFixed(2)} s)` : '';
          }),
        ]),
      ),
      '',
      `Median: per item ${(rates[0] as number).toFixed(0)} files/s, batched ${(rates[1] as number).toFixed(0)} files/s: **${fmtRatio(ratio)}** (goal >= ${GOAL}x).`,
      '',
      'Requests per expired file (a round of 400 files, counted at the clients: every DynamoDB command and every call of the storage backend):',
      '',
      table(
        ['request', ...algorithms.map((a) => a.name)],
        commands.map((c) => [c, ...algorithms.map((a) => (perFile.get(a.name)?.get(c) ?? 0).toFixed(3))]),
      ),
    ].join('\n');

    return {
      id: 'h',
      title: 'the sweeper: expired files per second, batched vs per item',
      rows: [
        {
          metric: 'per-item sweep (the algorithm before, median)',
          value: `${(rates[0] as number).toFixed(0)} files/s`,
        },
        {
          metric: 'batched sweep (median; ratio)',
          value: `${(rates[1] as number).toFixed(0)} files/s (${fmtRatio(ratio)})`,
          goal: `>= ${GOAL}x`,
          met: ratio >= GOAL,
        },
        {
          metric: 'DynamoDB requests per expired file (before; now)',
          value: algorithms
            .map((a) =>
              [...(perFile.get(a.name) ?? new Map<string, number>())]
                .filter(([c]) => c.startsWith('dynamodb.'))
                .reduce((sum, [, n]) => sum + n, 0)
                .toFixed(2),
            )
            .join('; '),
        },
      ],
      failures,
      details,
      elapsedMs: performance.now() - started,
    };
  } finally {
    await service.stop();
  }
}
