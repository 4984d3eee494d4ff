import { mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { db, tableName } from '../../shared/metadata/client';
import { auditTenant, runAudit } from '../../shared/service/audit';
import { signUpload } from '../../shared/service/direct-upload';
import { principal, setupTestEnv, type TestEnv } from '../helpers/env';
import { violations } from '../helpers/invariants';
import { md5, upload } from '../helpers/service-helpers';

/**
 * The integrity audit against state corrupted on purpose, one kind of damage at a time, written
 * straight into the table and onto the disk (what a bug, a crash of an older version, or a hand
 * in the console would leave): it must find each, fix each with --repair, and then find nothing,
 * with the independent oracle agreeing.
 */
let env: TestEnv;
let root: string;
beforeAll(async () => {
  env = await setupTestEnv();
  root = join(env.root, 'default');
});
afterAll(() => env.cleanup());

const hourAgo = () => new Date(Date.now() - 3600 * 1000);
const budget = () => ({ deadline: Date.now() + 60_000 });

/** An object file written behind the service's back, last modified `at`. */
function strayObject(key: string, data: string, at = hourAgo()) {
  const file = join(root, ...key.split('/'));
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, data);
  utimesSync(file, at, at);
}

const put = (Item: Record<string, unknown>) => db().send(new PutCommand({ TableName: tableName(), Item }));
const update = (Key: Record<string, string>, UpdateExpression: string, values: Record<string, unknown>) =>
  db().send(
    new UpdateCommand({ TableName: tableName(), Key, UpdateExpression, ExpressionAttributeValues: values }),
  );

describe('integrity audit', () => {
  const tenant = 'audited';
  const t = principal(tenant);

  it('finds nothing on a healthy tenant', async () => {
    await upload(t, 'plain.txt', 'plain');
    await upload(t, 'shared-1.txt', 'shared', { md5: md5('shared') });
    await upload(t, 'shared-2.txt', 'shared', { md5: md5('shared') });
    await signUpload({
      principal: t,
      path: 'pending.bin',
      size: 10,
      visibility: 'private',
      onConflict: 'overwrite',
    });
    expect(await auditTenant(tenant, { repair: false, ...budget() })).toEqual([]);
  });

  it('finds every kind of damage, repairs each, and then finds nothing', async () => {
    // orphan objects: an old one (reported), a young one (an upload may be writing it: left alone)
    strayObject(`${tenant}/ab/abababababababababababababababab.bin`, 'orphan');
    strayObject(`${tenant}/cd/cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd.bin`, 'young', new Date());
    strayObject(`_staging/${tenant}/efefefefefefefefefefefefefefefef.bin`, 'left in staging');
    // a file whose object is gone
    const lost = await upload(t, 'lost.txt', 'lost bytes');
    rmSync(join(root, ...lost.key.split('/')));
    // a blob whose count is wrong
    await update({ pk: `B#${tenant}#storages.Default`, sk: md5('shared') }, 'SET refCount = :n', { ':n': 5 });
    // a blob nobody uses any more (its last file record vanished)
    const unused = await upload(t, 'unused.txt', 'unused', { md5: md5('unused') });
    await db().send(
      new DeleteCommand({
        TableName: tableName(),
        Key: { pk: `F#${tenant}#storages.Default`, sk: 'unused.txt' },
      }),
    );
    // a claim whose upload no longer exists
    const claimKey = `${tenant}/blobs/${md5('claimed')}-0123456789abcdef0123456789abcdef.txt`;
    strayObject(claimKey, 'claimed');
    await put({
      pk: `B#${tenant}#storages.Default`,
      sk: md5('claimed'),
      tenant,
      storage: 'storages.Default',
      md5: md5('claimed'),
      key: claimKey,
      state: 'WRITING',
      refCount: 0,
      owner: '0123456789abcdef0123456789abcdef',
    });
    // an upload session long past its deadline (the sweeper never ran)
    const stale = await signUpload({
      principal: t,
      path: 'stale.bin',
      size: 7,
      visibility: 'private',
      onConflict: 'overwrite',
    });
    await update({ pk: `U#${tenant}`, sk: stale.uploadId }, 'SET expiresAt = :e', {
      ':e': Date.now() - 3600 * 1000,
    });
    // garbage that was never collected
    const garbageKey = `${tenant}/ef/efefefefefefefefefefefefefefef00.bin`;
    strayObject(garbageKey, 'garbage');
    await put({
      pk: `G#${tenant}#storages.Default`,
      sk: garbageKey,
      tenant,
      storage: 'storages.Default',
      key: garbageKey,
      reason: 'test',
      createdAt: hourAgo().toISOString(),
    });
    // counters that drifted
    await update({ pk: `Q#${tenant}`, sk: '-' }, 'ADD usedBytes :n, freeBytes :m', { ':n': 999, ':m': -999 });

    const report = await auditTenant(tenant, { repair: false, ...budget() });
    const kinds = report.map((f) => `${f.kind} ${f.subject}`).sort();
    expect(kinds).toEqual(
      [
        `counter-drift ${tenant}`,
        `missing-object lost.txt`,
        `orphan-object _staging/${tenant}/efefefefefefefefefefefefefefefef.bin`,
        `orphan-object ${tenant}/ab/abababababababababababababababab.bin`,
        `pending-garbage ${garbageKey}`,
        `refcount-mismatch ${md5('shared')}`,
        `stale-claim ${md5('claimed')}`,
        `stale-session ${stale.uploadId}`,
        `unused-blob ${md5('unused')}`,
      ].sort(),
    );
    expect(report.every((f) => f.repaired === undefined)).toBe(true);
    // Report only: nothing changed.
    expect((await auditTenant(tenant, { repair: false, ...budget() })).length).toBe(report.length);

    const repaired = await auditTenant(tenant, { repair: true, ...budget() });
    expect(repaired.filter((f) => !f.repaired)).toEqual([]);
    expect(await auditTenant(tenant, { repair: false, ...budget() })).toEqual([]);
    expect(unused.key).toContain('/blobs/');
    // The oracle agrees (the young stray object is the one thing left, and it is an orphan to it).
    expect(await violations(tenant, { settled: false })).toEqual([
      `orphan object storages.Default ${tenant}/cd/cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd.bin`,
    ]);
  });

  it('audits every tenant, tenant by tenant, and goes on from a cursor', async () => {
    for (const name of ['all-a', 'all-b']) {
      await upload(principal(name), 'f.txt', name);
      await update({ pk: `Q#${name}`, sk: '-' }, 'ADD fileCount :n', { ':n': 3 });
    }
    const all = await runAudit({}, { repair: false, ...budget() });
    expect(all.complete).toBe(true);
    expect(all.tenants).toBeGreaterThanOrEqual(3);
    const drifted = all.findings.filter((f) => f.kind === 'counter-drift').map((f) => f.tenant);
    expect(drifted).toEqual(expect.arrayContaining(['all-a', 'all-b']));

    const none = await runAudit({}, { repair: false, deadline: Date.now() - 1 });
    expect(none).toMatchObject({ complete: false, tenants: 0, findings: [] });

    // Scan order is the table's; a run that starts after the first tenant it reports skips that one.
    const firstDrifted = drifted[0] as string;
    const rest = await runAudit({ cursor: firstDrifted }, { repair: true, ...budget() });
    expect(rest.findings.map((f) => f.tenant)).not.toContain(firstDrifted);
    await runAudit({}, { repair: true, ...budget() });
    expect(
      (await runAudit({}, { repair: false, ...budget() })).findings.filter((f) =>
        f.tenant.startsWith('all-'),
      ),
    ).toEqual([]);
  });
});
