import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler } from '../../functions/on-object-created';
import { getStorage } from '../../shared/backends/registry';
import { getFileRecord } from '../../shared/metadata/files';
import { getUsage } from '../../shared/metadata/quota';
import { getSession } from '../../shared/metadata/sessions';
import { loadSecrets, resetSecrets } from '../../shared/secrets';
import { signUpload } from '../../shared/service/direct-upload';
import { objectKey, stagingKey } from '../../shared/service/keys';
import { type AwsJsonServer, startAwsJsonServer } from '../helpers/aws-json-server';
import { principal, setupTestEnv, type TestEnv } from '../helpers/env';
import { s3Event } from '../helpers/integrity';
import { expectQuotaConsistent, md5, storedFiles, upload } from '../helpers/service-helpers';

async function signed(tenant: string, path: string, size: number, extra: { md5?: string } = {}) {
  const s = await signUpload({
    principal: principal(tenant),
    path,
    contentType: 'application/pdf',
    size,
    visibility: 'private',
    onConflict: 'overwrite',
    ...extra,
  });
  const session = await getSession(tenant, s.uploadId);
  return { uploadId: s.uploadId, key: session?.key as string };
}

const put = (key: string, data: string) =>
  getStorage().put(key, Buffer.from(data), { contentType: 'application/pdf' });

describe('on-object-created (S3 ObjectCreated -> finalize)', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await setupTestEnv();
  });
  afterAll(async () => {
    await env?.cleanup();
  });

  it('finalizes the PENDING direct upload the staging object belongs to, once, however often S3 repeats', async () => {
    const { uploadId, key } = await signed('s3-ok', 'scans/report 1.pdf', 100);
    expect(key).toBe(stagingKey('s3-ok', uploadId, '.pdf'));
    await put(key, 'pdf bytes');

    expect(await handler(s3Event(key))).toEqual({ finalized: 1, ignored: 0, rejected: 0, discarded: 0 });
    const record = await getFileRecord('s3-ok', 'storages.Default', 'scans/report 1.pdf');
    expect(record).toMatchObject({ id: uploadId, status: 'READY', size: 9, md5: md5('pdf bytes') });
    // The file points at a promoted copy, not at the staging key clients can write to.
    expect(record?.key).not.toBe(key);
    expect(record?.key.startsWith('s3-ok/')).toBe(true);
    expect(storedFiles(join(env.root, 'default'))).not.toContain(key);
    expect(await getUsage('s3-ok')).toMatchObject({ usedBytes: 9, reservedBytes: 0, fileCount: 1 });

    // At-least-once delivery: a repeat finds the session COMPLETED and changes nothing; a staging
    // object written again after completion is a leftover, deleted at once.
    expect(await handler(s3Event(key, key))).toEqual({ finalized: 0, ignored: 0, rejected: 0, discarded: 2 });
    await put(key, 'written again');
    expect(await handler(s3Event(key))).toEqual({ finalized: 0, ignored: 0, rejected: 0, discarded: 1 });
    expect(storedFiles(join(env.root, 'default'))).not.toContain(key);
    expect(await getUsage('s3-ok')).toMatchObject({ usedBytes: 9, fileCount: 1 });
    await expectQuotaConsistent('s3-ok');
  });

  it('ignores objects outside the staging prefix: API uploads, dedupe blobs, promoted copies, foreign keys', async () => {
    const streamed = await upload(principal('s3-ignore'), 'a.txt', 'streamed');
    const blob = await upload(principal('s3-ignore'), 'b.txt', 'deduplicated', { md5: md5('deduplicated') });
    expect(blob.key).toContain('/blobs/');
    const unknownId = '0123456789abcdef0123456789abcdef';
    const result = await handler(
      s3Event(
        streamed.key,
        blob.key,
        objectKey('s3-ignore', unknownId, '.pdf'),
        `_staging/s3-ignore/not-an-id.pdf`,
        'not/a/key/of/ours.txt',
        'README',
      ),
    );
    expect(result).toEqual({ finalized: 0, ignored: 6, rejected: 0, discarded: 0 });
    expect(storedFiles(join(env.root, 'default'))).toEqual(expect.arrayContaining([streamed.key, blob.key]));
    expect(await getUsage('s3-ignore')).toMatchObject({ fileCount: 2 });
    await expectQuotaConsistent('s3-ignore');
  });

  it('refuses an object larger than declared: object deleted, reservation released, no retry', async () => {
    const { key } = await signed('s3-big', 'big.pdf', 4);
    await put(key, 'more than four bytes');
    expect(storedFiles(join(env.root, 'default'))).toContain(key);
    expect(await handler(s3Event(key))).toEqual({ finalized: 0, ignored: 0, rejected: 1, discarded: 0 });
    expect(storedFiles(join(env.root, 'default'))).not.toContain(key);
    expect(await getUsage('s3-big')).toMatchObject({ usedBytes: 0, reservedBytes: 0, fileCount: 0 });
    expect(await getFileRecord('s3-big', 'storages.Default', 'big.pdf')).toBeUndefined();
  });

  it('handles each record of a batch on its own', async () => {
    const a = await signed('s3-batch', 'a.pdf', 10);
    const b = await signed('s3-batch', 'b.pdf', 10, { md5: md5('expected') });
    await put(a.key, 'fine');
    await put(b.key, 'not expected');
    expect(await handler(s3Event(a.key, b.key))).toEqual({
      finalized: 1,
      ignored: 0,
      rejected: 1,
      discarded: 0,
    });
    expect(await getUsage('s3-batch')).toMatchObject({ usedBytes: 4, reservedBytes: 0, fileCount: 1 });
    await expectQuotaConsistent('s3-batch');
  });
});

describe('shared/secrets.ts', () => {
  let secretsManager: AwsJsonServer;
  let endpoint = '';
  const requests: { target?: string; body: string }[] = [];
  const saved = { ...process.env };

  beforeAll(async () => {
    // Answers GetSecretValue for one ARN.
    secretsManager = await startAwsJsonServer((input: { SecretId: string }, target) => {
      requests.push({ target, body: JSON.stringify(input) });
      return { ARN: input.SecretId, SecretString: 's'.repeat(64) };
    });
    endpoint = secretsManager.endpoint;
  });
  afterAll(async () => {
    process.env = saved;
    resetSecrets();
    await secretsManager.close();
  });

  it('reads SIGNING_SECRET from the ARN once per cold start, and does nothing where it is set', async () => {
    const arn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:signing-AbCdEf';
    process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = endpoint;
    const env: NodeJS.ProcessEnv = { SIGNING_SECRET_ARN: arn };
    resetSecrets();
    await loadSecrets(env);
    await loadSecrets(env);
    expect(env.SIGNING_SECRET).toBe('s'.repeat(64));
    expect(requests).toHaveLength(1);
    expect(requests[0]?.target).toBe('secretsmanager.GetSecretValue');
    expect(JSON.parse(requests[0]?.body ?? '{}')).toEqual({ SecretId: arn });

    resetSecrets();
    const local: NodeJS.ProcessEnv = { SIGNING_SECRET_ARN: arn, SIGNING_SECRET: 'given' };
    await loadSecrets(local);
    expect(local.SIGNING_SECRET).toBe('given');
    expect(requests).toHaveLength(1);
  });
});
