import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { lambdaContext } from '../../infra/local/server';
import type { ApiEvent, LambdaResult } from '../../shared/http/api';
import { type FileRecord, fileKey } from '../../shared/metadata/items';
import { getUsage } from '../../shared/metadata/quota';
import { queryPartition } from '../../shared/metadata/tenants';
import { setupTestEnv, type TestEnv } from '../helpers/env';
import { storedFiles } from '../helpers/service-helpers';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
});

/**
 * What the handlers do with names that are not one clean UTF-8 string, invoked with the sample
 * events the way Lambda invokes them. In AWS, API Gateway (HTTP API) hands the function `rawPath`
 * and `pathParameters` already percent-decoded, so the handler can only judge the decoded name.
 */
const readEvent = (fn: string): ApiEvent =>
  JSON.parse(readFileSync(new URL(`../../events/${fn}.json`, import.meta.url), 'utf8')) as ApiEvent;

type ApiHandler = (event: ApiEvent, context: Context) => Promise<LambdaResult>;

async function invoke(fn: string, event: ApiEvent): Promise<{ status: number | undefined; json: unknown }> {
  const { handler } = (await import(`../../functions/${fn}.ts`)) as { handler: ApiHandler };
  const r = await handler(event, lambdaContext(fn));
  return { status: r.statusCode, json: JSON.parse(String(r.body)) };
}

/** The upload-object sample sent to another path, with the decoded path API Gateway would pass. */
function putEvent(decodedPath: string): ApiEvent {
  const e = readEvent('upload-object');
  e.rawPath = `/v1/objects/${decodedPath}`;
  e.requestContext.http.path = e.rawPath;
  e.pathParameters = { path: decodedPath };
  return e;
}

const invalidEncoding = { error: { code: 'INVALID_PATH_ENCODING', message: expect.any(String) } };

describe('path encoding at the handler', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await setupTestEnv();
  });
  afterAll(async () => {
    await env?.cleanup();
  });

  async function expectNothingKept() {
    const records: string[] = [];
    for await (const r of queryPartition<FileRecord>(fileKey('acme', 'storages.Default', '').pk)) {
      records.push(r.path);
    }
    expect(records.filter((p) => p.startsWith('bad/'))).toEqual([]);
    expect((await getUsage('acme')).reservedBytes).toBe(0);
  }

  it('a name with U+FFFD, what a lossy decoding of %FF gives, is 400 and nothing is kept', async () => {
    const before = storedFiles(join(env.root, 'default'));
    expect(await invoke('upload-object', putEvent('bad/x\uFFFD.bin'))).toEqual({
      status: 400,
      json: invalidEncoding,
    });
    expect(storedFiles(join(env.root, 'default'))).toEqual(before);
    await expectNothingKept();
  });

  it('a decoded "%FF" (the client sent x%25FF.bin) is that name: the handler does not decode again', async () => {
    const r = await invoke('upload-object', putEvent('enc/x%FF.bin'));
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ fullName: 'enc/x%FF.bin', fileName: 'x%FF.bin' });
    const meta = readEvent('get-file-record');
    meta.rawPath = '/v1/meta/enc/x%FF.bin';
    meta.requestContext.http.path = meta.rawPath;
    meta.pathParameters = { path: 'enc/x%FF.bin' };
    expect((await invoke('get-file-record', meta)).json).toMatchObject({ fullName: 'enc/x%FF.bin' });
  });

  it('a form whose path field is not UTF-8 is 400 INVALID_PATH_ENCODING', async () => {
    const e = readEvent('upload-form');
    const body = Buffer.from(e.body ?? '', 'base64');
    const field = Buffer.from('docs/welcome.txt');
    const at = body.indexOf(field);
    expect(at).toBeGreaterThan(0);
    const bad = Buffer.concat([
      body.subarray(0, at),
      Buffer.from('bad/x'),
      Buffer.from([0xff]),
      Buffer.from('.txt'),
      body.subarray(at + field.length),
    ]);
    e.body = bad.toString('base64');
    e.headers['content-length'] = String(bad.length);
    expect(await invoke('upload-form', e)).toEqual({ status: 400, json: invalidEncoding });
    await expectNothingKept();
  });

  it('a JSON path with half of a UTF-16 surrogate pair is 400 INVALID_PATH_ENCODING', async () => {
    const e = readEvent('sign-upload');
    e.body = JSON.stringify({ path: 'bad/scan\ud800.pdf', contentType: 'application/pdf', size: 57 });
    e.headers['content-length'] = String(Buffer.byteLength(e.body));
    expect(await invoke('sign-upload', e)).toEqual({ status: 400, json: invalidEncoding });
    await expectNothingKept();
  });
});
