import { afterAll, beforeAll, expect, it } from 'vitest';
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

const target = (signatureVersion: 'v1' | 'v4') => async () => {
  await started;
  const oss = (extra: Partial<AliyunOssOptions> = {}) =>
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
  const closed = `http://localhost:${await freePort()}`;
  return {
    backend: oss(),
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
