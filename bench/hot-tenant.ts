/**
 * (i) A hot tenant: many small uploads of ONE tenant at once, through the service in this process,
 * with its quota counter in one item (QUOTA_SHARDS=1) and spread over 8 (QUOTA_SHARDS=8): uploads
 * per second, the transactions' conflicts (TransactionConflict, each retried with backoff) and
 * those past every retry, and, with a limit that fits only some of them, exactly that many stored.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { getQuotaState, setLimit } from '../shared/metadata/quota';
import { transactStats } from '../shared/metadata/transact';
import type { TenantPrincipal } from '../shared/service/principal';
import { uploadFile } from '../shared/service/upload';
import { startInProcessService } from './in-process';
import { type BenchResult, table } from './report';

export interface HotTenantOptions {
  uploads?: number;
}

const SHARDINGS = [1, 8];
const KiB = 1024;

const principalOf = (tenant: string): TenantPrincipal => ({
  tenant,
  userId: 'bench',
  permissions: new Set(['upload', 'download', 'delete']),
});

/** `count` uploads of 1 KiB for one tenant, all at once; how many were stored, refused, and failed otherwise. */
async function burst(tenant: string, prefix: string, count: number) {
  const body = randomBytes(KiB);
  const outcomes = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      uploadFile({
        principal: principalOf(tenant),
        path: `${prefix}/${i}.bin`,
        body: Readable.from([body]),
        size: body.length,
        contentType: 'application/octet-stream',
        visibility: 'private',
        onConflict: 'overwrite',
      }).then(
        () => 'ok',
        (e: { code?: string }) => e.code ?? 'error',
      ),
    ),
  );
  const count_ = (code: string) => outcomes.filter((o) => o === code).length;
  return {
    ok: count_('ok'),
    refused: count_('QUOTA_EXCEEDED'),
    other: outcomes.filter((o) => o !== 'ok' && o !== 'QUOTA_EXCEEDED'),
  };
}

export async function runHotTenant(options: HotTenantOptions = {}): Promise<BenchResult> {
  const uploads = options.uploads ?? 500;
  const started = performance.now();
  const failures: string[] = [];
  const rows: string[][] = [];
  const summary: BenchResult['rows'] = [];
  for (const shards of SHARDINGS) {
    const service = await startInProcessService('bench-hot-', `bench-hot-${shards}`, {
      QUOTA_SHARDS: String(shards),
    });
    try {
      // Warm-up (another tenant), untimed.
      await burst('warm', 'w', 50);
      // Throughput: every upload fits.
      const before = { ...transactStats };
      const t0 = performance.now();
      const all = await burst('hot', 'all', uploads);
      const seconds = (performance.now() - t0) / 1000;
      const conflicts = transactStats.conflicts - before.conflicts;
      const gaveUp = transactStats.gaveUp - before.gaveUp;
      const transactions = transactStats.transactions - before.transactions;
      if (all.ok !== uploads)
        failures.push(`${shards} shard(s): ${all.ok} of ${uploads} uploads stored (${all.other.join(', ')})`);
      const usage = await getQuotaState('hot');
      if (usage.usedBytes !== uploads * KiB || usage.reservedBytes !== 0 || usage.fileCount !== uploads) {
        failures.push(`${shards} shard(s): counters ${JSON.stringify(usage)} after ${uploads} uploads`);
      }
      // Exactness: a limit that fits a fifth of them.
      const fits = Math.floor(uploads / 5);
      await setLimit('exact', fits * KiB);
      const before2 = { ...transactStats };
      const exact = await burst('exact', 'e', uploads);
      if (exact.ok !== fits || exact.refused !== uploads - fits) {
        failures.push(
          `${shards} shard(s): ${exact.ok} stored and ${exact.refused} refused against a limit of ${fits}`,
        );
      }
      const exactUsage = await getQuotaState('exact');
      if (exactUsage.usedBytes !== fits * KiB || exactUsage.reservedBytes !== 0) {
        failures.push(
          `${shards} shard(s): counters ${JSON.stringify(exactUsage)} against a limit of ${fits} KiB`,
        );
      }
      rows.push([
        String(shards),
        `${(uploads / seconds).toFixed(0)} (${seconds.toFixed(2)} s)`,
        String(transactions),
        String(conflicts),
        String(gaveUp),
        `${exact.ok} / ${exact.refused}`,
        String(transactStats.conflicts - before2.conflicts),
      ]);
      summary.push({
        metric: `QUOTA_SHARDS=${shards}: ${uploads} uploads of one tenant at once`,
        value: `${(uploads / seconds).toFixed(0)} uploads/s, ${conflicts} conflicts retried, ${gaveUp} past every retry`,
      });
      summary.push({
        metric: `QUOTA_SHARDS=${shards}: stored / refused against a limit of ${fits} KiB`,
        value: `${exact.ok} / ${exact.refused}`,
        goal: `exactly ${fits} / ${uploads - fits}`,
        met: exact.ok === fits && exact.refused === uploads - fits,
      });
    } finally {
      await service.stop();
    }
  }
  const details = [
    `${uploads} uploads of 1 KiB for one tenant started at once, through \`uploadFile\` in this process (local disk, DynamoDB Local), with the tenant's quota counter in one item and spread over 8 (\`QUOTA_SHARDS\`). Each upload writes the counter twice: its reservation (with the session, one transaction) and its commit (with the file record, one transaction). Conflicts are TransactionConflict cancellations, each retried with jittered backoff; "past every retry" would be a 503 SERVICE_BUSY. Then the same burst against a limit that fits a fifth of them: exactly that many must be stored.`,
    '',
    table(
      [
        'shards',
        'uploads/s (burst)',
        'transactions',
        'conflicts retried',
        'past every retry',
        'stored / refused (limit: a fifth)',
        'conflicts in that burst',
      ],
      rows,
    ),
    '',
    'DynamoDB Local serializes writes in one JVM, so it shows few conflicts whatever the sharding; DynamoDB itself cancels a transaction that meets another one on the same item, which is what a single counter makes every upload of a busy tenant do (docs/decisions.md, "A hot tenant", and docs/scale.md for the limits).',
  ].join('\n');
  return {
    id: 'i',
    title: 'a hot tenant: uploads at once on one quota counter and on 8 shards',
    rows: summary,
    failures,
    details,
    elapsedMs: performance.now() - started,
  };
}
