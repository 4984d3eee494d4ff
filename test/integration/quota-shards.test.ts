import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { db, tableName } from '../../shared/metadata/client';
import { getQuotaState, quotaShardKey, setLimit } from '../../shared/metadata/quota';
import { listFiles } from '../../shared/service/list';
import { deleteFile } from '../../shared/service/remove';
import { recalculateUsage } from '../../shared/service/usage';
import { principal, setupTestEnv, type TestEnv } from '../helpers/env';
import { violations } from '../helpers/invariants';
import { failure, upload } from '../helpers/service-helpers';

/**
 * A hot tenant on a sharded quota counter (QUOTA_SHARDS): hundreds of uploads at once never pass
 * the limit by a byte, and the counter, summed over its shards, equals the files (the oracle sums
 * the raw shard items itself).
 */
let env: TestEnv;
beforeAll(async () => {
  env = await setupTestEnv({ QUOTA_SHARDS: '8' });
});
afterAll(async () => {
  await env?.cleanup();
});

const KiB = 1024;

/** `count` uploads of `size` bytes at once; the codes of those that failed. */
async function burst(tenant: string, prefix: string, count: number, size: number) {
  const who = principal(tenant);
  const outcomes = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      failure(upload(who, `${prefix}/${i}.bin`, Buffer.alloc(size, i % 251))),
    ),
  );
  return {
    ok: outcomes.filter((o) => o === 'no error').length,
    refused: outcomes.filter((o) => o === '413 QUOTA_EXCEEDED').length,
    other: outcomes.filter((o) => o !== 'no error' && o !== '413 QUOTA_EXCEEDED'),
  };
}

describe('a sharded quota counter (QUOTA_SHARDS=8)', () => {
  it('500 uploads of 1 KiB at once against a 100 KiB limit: exactly 100 are stored, and the counter is exact', async () => {
    const tenant = 'hot';
    await setLimit(tenant, 100 * KiB);
    const result = await burst(tenant, 'a', 500, KiB);
    expect(result).toEqual({ ok: 100, refused: 400, other: [] });
    expect(await violations(tenant, { settled: false })).toEqual([]);
    expect(await getQuotaState(tenant)).toMatchObject({
      usedBytes: 100 * KiB,
      reservedBytes: 0,
      fileCount: 100,
    });
    // The writes went to several shards, not one: most shards hold files.
    const shards = await Promise.all(
      Array.from({ length: 8 }, async (_, k) => {
        const { Item } = await db().send(
          new GetCommand({ TableName: tableName(), Key: quotaShardKey(tenant, k), ConsistentRead: true }),
        );
        return Number(Item?.fileCount ?? 0);
      }),
    );
    expect(shards.filter((files) => files > 0).length).toBeGreaterThanOrEqual(4);
    expect(shards.reduce((a, b) => a + b, 0)).toBe(100);
  });

  it('deletes give room back on any shard; the next burst fills exactly that room again; a recount agrees', async () => {
    const tenant = 'hot';
    for (let i = 0; i < 30; i++) await deleteFile(tenant, undefined, `a/${i}.bin`);
    // Some of these never existed (refused before): deleting them changes nothing.
    expect((await getQuotaState(tenant)).usedBytes).toBeGreaterThanOrEqual(70 * KiB);
    const before = await getQuotaState(tenant);
    const room = Math.floor((before.limitBytes - before.usedBytes) / (3 * KiB));
    const result = await burst(tenant, 'b', 100, 3 * KiB);
    expect(result).toEqual({ ok: room, refused: 100 - room, other: [] });
    expect(await violations(tenant, { settled: false })).toEqual([]);
    const recounted = await recalculateUsage(tenant);
    const after = await getQuotaState(tenant);
    expect(recounted).toMatchObject({
      usedBytes: after.usedBytes,
      fileCount: after.fileCount,
      reservedBytes: 0,
    });
    expect(await violations(tenant, { settled: false })).toEqual([]);
    // After a recount that moved every count to shard 0, the shards still admit exactly the room left.
    const left = Math.floor((after.limitBytes - after.usedBytes) / KiB);
    expect(await burst(tenant, 'c', left + 20, KiB)).toEqual({ ok: left, refused: 20, other: [] });
    expect(await violations(tenant, { settled: false })).toEqual([]);
  });

  it('a limit raised or lowered moves shard 0 only, and every reservation still fits the new limit', async () => {
    const tenant = 'hot-limits';
    await setLimit(tenant, 20 * KiB);
    expect(await burst(tenant, 'x', 40, KiB)).toMatchObject({ ok: 20, refused: 20 });
    await setLimit(tenant, 30 * KiB);
    expect(await burst(tenant, 'y', 40, KiB)).toMatchObject({ ok: 10, refused: 30 });
    await setLimit(tenant, 10 * KiB);
    expect(await burst(tenant, 'z', 5, KiB)).toMatchObject({ ok: 0, refused: 5 });
    expect(await violations(tenant, { settled: false })).toEqual([]);
    // Over the lowered limit (30 KiB stored, 10 allowed): room comes back only below the limit,
    // byte for byte, as with one counter.
    const stored = (await listFiles({ tenant, limit: 100 })).items.map((r) => r.path);
    expect(stored).toHaveLength(30);
    for (const path of stored.slice(0, 15)) await deleteFile(tenant, undefined, path);
    expect(await burst(tenant, 'w', 5, KiB)).toMatchObject({ ok: 0, refused: 5 });
    for (const path of stored.slice(15, 22)) await deleteFile(tenant, undefined, path);
    expect((await getQuotaState(tenant)).usedBytes).toBe(8 * KiB);
    expect(await burst(tenant, 'v', 5, KiB)).toMatchObject({ ok: 2, refused: 3 });
    expect(await violations(tenant, { settled: false })).toEqual([]);
  });
});
