import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../shared/config';

const base = { SIGNING_SECRET: 's'.repeat(32) };

describe('configuration', () => {
  it('defaults to one local-disk instance named storages.Default', () => {
    const c = parseConfig(base);
    expect(c.defaultStorage).toBe('storages.Default');
    expect(c.storages['storages.Default']?.type).toBe('local-disk');
    expect(c.allowedContentTypes).toEqual(['*/*']);
  });

  it('falls back to storages.Default when the named default is not configured', () => {
    const c = parseConfig({ ...base, DEFAULT_STORAGE: 'storages.Missing' });
    expect(c.defaultStorage).toBe('storages.Default');
  });

  it('names the instance and the field that is wrong', () => {
    expect(() =>
      parseConfig({ ...base, STORAGES: JSON.stringify({ 'storages.MyDisk': { type: 'local-disk' } }) }),
    ).toThrow(/storages\.MyDisk\.root/);
    expect(() =>
      parseConfig({ ...base, STORAGES: JSON.stringify({ bad: { type: 'local-disk', root: '/x' } }) }),
    ).toThrow(/"bad" must be named like storages\.Name/);
    expect(() => parseConfig({ ...base, STORAGES: '{' })).toThrow(/STORAGES is not valid JSON/);
    expect(() => parseConfig({})).toThrow(/SIGNING_SECRET/);
    expect(() => parseConfig({ ...base, MAX_FILE_BYTES: 'lots' })).toThrow(/MAX_FILE_BYTES/);
  });

  it('fails when no instance can be the default', () => {
    expect(() =>
      parseConfig({
        ...base,
        STORAGES: JSON.stringify({ 'storages.A': { type: 'local-disk', root: '/a' } }),
      }),
    ).toThrow(/not a configured instance/);
  });

  describe('cloud instances refuse http: unless allowHttp says so (emulators)', () => {
    const creds = { accessKeyId: 'ak', accessKeySecret: 'sk' };
    const instances: Record<string, Record<string, unknown>> = {
      s3: { type: 's3', bucketName: 'bkt' },
      minio: { type: 'minio', bucketName: 'bkt', endPoint: 'https://minio.example.com', ...creds },
      'azure-blob': { type: 'azure-blob', bucketName: 'bkt', ...creds },
      'aliyun-oss': { type: 'aliyun-oss', region: 'oss-cn-hangzhou', bucketName: 'bkt', ...creds },
    };
    const parse = (instance: Record<string, unknown>) =>
      parseConfig({
        ...base,
        STORAGES: JSON.stringify({
          'storages.Default': { type: 'local-disk', root: '/x' },
          'storages.Cloud': instance,
        }),
      }).storages['storages.Cloud'];

    it.each(Object.entries(instances))('%s', (_type, instance) => {
      for (const field of ['endPoint', 'customDomain']) {
        const plain = { ...instance, [field]: 'http://127.0.0.1:10000/x' };
        expect(() => parse(plain), field).toThrow(
          new RegExp(`storages\\.Cloud\\.${field}: is http:.*allowHttp: true`),
        );
        expect(() => parse({ ...plain, [field]: 'HTTP://127.0.0.1:10000/x' }), field).toThrow(/is http:/);
        expect(parse({ ...plain, allowHttp: true }), field).toMatchObject({
          [field]: 'http://127.0.0.1:10000/x',
          allowHttp: true,
        });
      }
      // https and bare host names (which become https) need nothing.
      expect(parse({ ...instance, endPoint: 'https://store.example.com' })).toMatchObject({
        allowHttp: false,
      });
      expect(parse({ ...instance, customDomain: 'files.example.com' })).toMatchObject({
        customDomain: 'https://files.example.com',
      });
      expect(() => parse({ ...instance, allowHttp: 'yes' })).toThrow(/storages\.Cloud\.allowHttp/);
    });
  });
});
