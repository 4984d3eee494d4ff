import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../infra/local/dynamodb-local';
import { AliyunOssBackend, type AliyunOssOptions } from '../../shared/backends/aliyun-oss';
import { type OssServer, startOssServer } from '../helpers/oss-server';
import { describeBackendContract } from './backend-contract';

/**
 * The Aliyun OSS adapter against the OSS test server, once per signature version. The server
 * verifies every request's signature (headers and URLs) and expiry. ali-oss refuses to presign
 * for an IP endpoint, so the endpoint is localhost, as a domain bound to the bucket (cname).
 */
let server: OssServer;
const started = startOssServer({
  bucket: 'contract',
  accessKeyId: 'test-access-key',
  accessKeySecret: 'test-access-secret',
  region: 'cn-hangzhou',
}).then((s) => {
  server = s;
  return s;
});
beforeAll(() => started);
afterAll(() => server?.stop());

const ossBackend = (signatureVersion: 'v1' | 'v4', extra: Partial<AliyunOssOptions> = {}) =>
  new AliyunOssBackend({
    name: 'storages.Oss',
    region: 'oss-cn-hangzhou',
    bucketName: 'contract',
    accessKeyId: 'test-access-key',
    accessKeySecret: 'test-access-secret',
    endPoint: server.endpoint,
    cname: true,
    signatureVersion,
    ...extra,
  });

const target = (signatureVersion: 'v1' | 'v4') => async () => {
  await started;
  const oss = (extra: Partial<AliyunOssOptions> = {}) => ossBackend(signatureVersion, extra);
  const closed = `http://localhost:${await freePort()}`;
  const backend = oss();
  return {
    backend,
    storedContentType: async (key: string) => {
      const { res } = await backend.client.head(key);
      return (res.headers as Record<string, string | undefined>)['content-type'];
    },
    checks: { uploadSignature: true, downloadSignature: true, expiry: true },
    withWrongSecret: () => oss({ accessKeySecret: 'not-the-secret' }),
    unreachable: () => oss({ endPoint: closed }),
  };
};

describeBackendContract('aliyun-oss (V1 signatures)', target('v1'));
describeBackendContract('aliyun-oss (V4 signatures)', target('v4'));

it('the OSS server saw and verified both signature versions, in headers and in URLs', () => {
  expect(server.seen.v1).toBeGreaterThan(10);
  expect(server.seen.v4).toBeGreaterThan(10);
  expect(server.seen.v1Url).toBeGreaterThanOrEqual(2);
  expect(server.seen.v4Url).toBeGreaterThanOrEqual(2);
  expect(server.seen.rejected).toBeGreaterThan(0);
});

describe.each(['v1', 'v4'] as const)(
  'the OSS server signs and answers CopyObject like OSS (%s)',
  (version) => {
    it('the copy source is signed: another source under the same signature is refused; a missing one is NoSuchKey', async () => {
      await started;
      const backend = ossBackend(version);
      const dir = `raw-copy-${version}`;
      await backend.put(`${dir}/src é+&.txt`, Buffer.from('source'), { contentType: 'text/x-source' });
      await backend.put(`${dir}/other.txt`, Buffer.from('other'), { contentType: 'text/plain' });
      const source = (key: string) => `/contract/${encodeURIComponent(key)}`;
      // A presigned PUT whose signature covers the x-oss-copy-source header, sent as fetch would send it.
      const signed = async (to: string, copySource: string) =>
        version === 'v4'
          ? await backend.client.signatureUrlV4(
              'PUT',
              60,
              { headers: { 'x-oss-copy-source': copySource } },
              to,
            )
          : backend.client.signatureUrl(to, {
              method: 'PUT',
              expires: 60,
              'x-oss-copy-source': copySource,
            } as Parameters<typeof backend.client.signatureUrl>[1]);
      const put = (url: string, copySource: string) =>
        fetch(url, { method: 'PUT', headers: { 'x-oss-copy-source': copySource } });

      const url = await signed(`${dir}/to.txt`, source(`${dir}/src é+&.txt`));
      const forged = await put(url, source(`${dir}/other.txt`));
      expect(forged.status).toBe(403);
      expect(await forged.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
      expect(await backend.head(`${dir}/to.txt`)).toBeNull();

      const copied = await put(url, source(`${dir}/src é+&.txt`));
      expect(copied.status).toBe(200);
      expect(await copied.text()).toMatch(
        /<CopyObjectResult><ETag>(&quot;|")[0-9A-F]{32}(&quot;|")<\/ETag><LastModified>/,
      );
      const back = await backend.get(`${dir}/to.txt`);
      expect(Buffer.concat(await back.body.toArray()).toString()).toBe('source');
      const { res } = await backend.client.head(`${dir}/to.txt`);
      expect((res.headers as Record<string, string>)['content-type']).toBe('text/x-source');

      const missing = source(`${dir}/no-such-source.txt`);
      const notFound = await put(await signed(`${dir}/never.txt`, missing), missing);
      expect(notFound.status).toBe(404);
      expect(notFound.headers.get('content-type')).toBe('application/xml');
      expect(await notFound.text()).toContain('<Code>NoSuchKey</Code>');
      expect(await backend.head(`${dir}/never.txt`)).toBeNull();
    });
  },
);

describe.each(['v1', 'v4'] as const)('listParts pages past 1000 parts (%s)', (version) => {
  it('all 1001 parts, in order, with their sizes and etags', async () => {
    await started;
    const backend = ossBackend(version);
    const key = `many-parts-${version}/a.bin`;
    const { uploadId } = await backend.multipart.create(key, { contentType: 'application/octet-stream' });
    const numbers = Array.from({ length: 1001 }, (_, i) => i + 1);
    const etags = new Map<number, string>();
    for (let i = 0; i < numbers.length; i += 50) {
      await Promise.all(
        numbers.slice(i, i + 50).map(async (n) => {
          const part = await backend.multipart.presignPart(key, uploadId, n, { expiresIn: 60 });
          const res = await fetch(part.url, {
            method: 'PUT',
            headers: part.headers,
            body: Buffer.from(`part ${n}`),
          });
          expect(res.status).toBe(200);
          etags.set(n, res.headers.get('etag') ?? '');
        }),
      );
    }
    const listed = await backend.multipart.listParts(key, uploadId);
    expect(listed.map((p) => p.partNumber)).toEqual(numbers);
    expect(listed.every((p) => p.size === `part ${p.partNumber}`.length)).toBe(true);
    expect(listed.every((p) => p.etag === etags.get(p.partNumber))).toBe(true);
    await backend.multipart.abort(key, uploadId);
    await expect(backend.multipart.listParts(key, uploadId)).rejects.toMatchObject({ kind: 'NotFound' });
  });
});
