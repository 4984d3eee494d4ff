import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { armFault, disableFaults } from '../../shared/faults';
import { resetDb } from '../../shared/metadata/client';
import { auditTenant } from '../../shared/service/audit';
import { sweepExpired } from '../../shared/service/sweep';
import { openThumbnail } from '../../shared/service/thumbnails';
import { principal, setupTestEnv, type TestEnv } from '../helpers/env';
import { readTenant, violations } from '../helpers/invariants';
import { md5, upload } from '../helpers/service-helpers';

/**
 * The sweeper removes a tenant's expired files many per transaction (their objects recorded by one
 * garbage batch item): checked with the integrity oracle (raw items and files on disk) after a
 * plain sweep, with thumbnails (whose batch settles later), and after a crash between the
 * transaction and the deletion of the objects.
 */
let env: TestEnv;
beforeAll(async () => {
  env = await setupTestEnv({ THUMBNAIL_EAGER_SIZES: '' });
});
afterAll(async () => {
  await env?.cleanup();
});
afterEach(() => {
  disableFaults();
  resetDb();
});

const later = (minutes: number) => Date.now() + minutes * 60_000;
const sweep = (now: number) => sweepExpired({ now, deadline: Date.now() + 30_000 });

async function expiring(tenant: string, count: number, extra: Parameters<typeof upload>[3] = {}) {
  const who = principal(tenant);
  for (let i = 0; i < count; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, count - i) }, (_, j) =>
        upload(who, `exp/${i + j}.txt`, `bytes of ${tenant} ${i + j}`, { expires: 1, ...extra }),
      ),
    );
  }
}

describe('the sweeper in batches', () => {
  it('removes 120 files of one tenant (two transactions), others and deduplicated ones: nothing left', async () => {
    await expiring('batch-a', 120);
    await expiring('batch-b', 5);
    const who = principal('batch-c');
    // Deduplicated bytes go one by one (their blob's count is read first).
    for (const p of ['d1.txt', 'd2.txt'])
      await upload(who, p, 'same bytes', { md5: md5('same bytes'), expires: 1 });
    const result = await sweep(later(1));
    expect(result).toMatchObject({ files: 127, failed: 0, complete: true });
    for (const tenant of ['batch-a', 'batch-b', 'batch-c']) {
      expect(await violations(tenant, { settled: true }), tenant).toEqual([]);
      const state = await readTenant(tenant);
      expect([state.files.length, state.objects.get('storages.Default')?.size]).toEqual([0, 0]);
    }
  });

  it('thumbnails of expired files go with them; their batch item settles after the renders could have written', async () => {
    const who = principal('batch-thumbs');
    const sharp = (await import('sharp')).default;
    const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#336699' } })
      .png()
      .toBuffer();
    for (const p of ['t1.png', 't2.png', 't3.png']) {
      await upload(who, p, png, { contentType: 'image/png', visibility: 'public', expires: 2 });
      await openThumbnail({
        access: { tenant: 'batch-thumbs', path: p },
        spec: { width: 20, height: 20, fit: 'cover', format: 'png', quality: 80 },
      });
    }
    expect(
      [...((await readTenant('batch-thumbs')).objects.get('storages.Default')?.keys() ?? [])].filter((k) =>
        k.startsWith('_thumbs/'),
      ),
    ).toHaveLength(3);
    expect(await sweep(later(1))).toMatchObject({ files: 3, failed: 0 });
    const swept = await readTenant('batch-thumbs');
    expect(swept.files).toEqual([]);
    // Every object is deleted at once; the thumbnails' batch item stays until it settles.
    expect(swept.objects.get('storages.Default')?.size).toBe(0);
    expect(swept.garbage.map((g) => g.keys)).toEqual([
      expect.arrayContaining([expect.stringMatching(/^_thumbs\//)]),
    ]);
    expect(await violations('batch-thumbs', { settled: false })).toEqual([]);
    await sweep(later(12));
    expect(await violations('batch-thumbs', { settled: true })).toEqual([]);
  });

  it('a crash after the transaction, before the objects are deleted, leaves garbage batch items that own them; the next sweep finishes', async () => {
    await expiring('batch-crash', 30);
    armFault('sweep.before-objects', 'fail');
    await expect(sweep(later(1))).rejects.toThrow('injected failure at sweep.before-objects');
    const crashed = await readTenant('batch-crash');
    expect(crashed.files).toEqual([]);
    expect(crashed.objects.get('storages.Default')?.size).toBe(30);
    expect(crashed.garbage.length).toBeGreaterThan(0);
    expect(crashed.garbage.length).toBeLessThan(30);
    // Owned, not orphans: neither the oracle nor the audit calls them so.
    expect(await violations('batch-crash', { settled: false })).toEqual([]);
    const findings = await auditTenant('batch-crash', {
      repair: false,
      deadline: Date.now() + 20_000,
      minAgeMs: 0,
    });
    expect(findings.filter((f) => f.kind === 'orphan-object')).toEqual([]);
    disableFaults();
    resetDb();
    await sweep(later(2));
    expect(await violations('batch-crash', { settled: true })).toEqual([]);
  });
});
