import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { AliyunOssBackend } from '../../shared/backends/aliyun-oss';
import { AzureBlobBackend } from '../../shared/backends/azure-blob';
import { exactRange, isNetworkError, kindOfStatus, normalize } from '../../shared/backends/common';
import type { StorageBackend } from '../../shared/backends/contract';
import { LazyBackend } from '../../shared/backends/lazy';
import { MinioBackend } from '../../shared/backends/minio';
import { getStorage, listStorages, resetStorages } from '../../shared/backends/registry';
import { S3Backend } from '../../shared/backends/s3';
import { parseConfig, resetConfig } from '../../shared/config';
import { fromStorageError, StorageError } from '../../shared/errors';

const base = { SIGNING_SECRET: 's'.repeat(32) };
const text = async (r: Readable) => {
  let s = '';
  for await (const c of r) s += c;
  return s;
};

describe('exactRange', () => {
  it('cuts a whole-object answer (a server that ignored the Range) to the range asked', async () => {
    const body = Readable.from([Buffer.from('0123'), Buffer.from('4567'), Buffer.from('89')]);
    expect(await text(exactRange(body, undefined, { start: 3, end: 8 }))).toBe('345678');
  });

  it('cuts an over-wide 206 (bytes 0-9 for bytes=0-0) and passes an exact one through', async () => {
    expect(await text(exactRange(Readable.from([Buffer.from('0123456789')]), 0, { start: 0, end: 0 }))).toBe(
      '0',
    );
    expect(await text(exactRange(Readable.from([Buffer.from('2345')]), 2, { start: 2, end: 5 }))).toBe(
      '2345',
    );
  });

  it('refuses an answer that starts after the range', () => {
    expect(() => exactRange(Readable.from([]), 5, { start: 2, end: 5 })).toThrow(RangeError);
  });
});

describe('storage error normalization', () => {
  it('maps statuses and network failures to kinds', () => {
    expect(kindOfStatus(404)).toBe('NotFound');
    expect(kindOfStatus(403)).toBe('AccessDenied');
    expect(kindOfStatus(401)).toBe('InvalidCredentials');
    expect(kindOfStatus(503)).toBe('Unavailable');
    expect(kindOfStatus(400)).toBeUndefined();
    const refused = Object.assign(new Error('connect'), {
      cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }),
    });
    expect(isNetworkError(refused)).toBe(true);
    expect(normalize(refused, 's3', 'storages.S3', 'get', () => 'Unknown').kind).toBe('Unavailable');
  });

  it('keeps the cause, names type and instance, and never leaks the message to clients', () => {
    const cause = new Error('https://secret-bucket.s3.amazonaws.com/key?X-Amz-Signature=abc denied');
    const e = normalize(cause, 'azure-blob', 'storages.Az', 'put', () => 'AccessDenied');
    expect(e).toMatchObject({
      kind: 'AccessDenied',
      storageType: 'azure-blob',
      instance: 'storages.Az',
      cause,
    });
    expect(e.message).not.toContain('secret-bucket');
    const client = fromStorageError(e);
    expect(client).toMatchObject({ status: 502, code: 'BACKEND_ERROR' });
    expect(client.message).toBe('Storage storages.Az failed');
    expect(fromStorageError(new StorageError('Unavailable', 's3', 'storages.S3', 'x')).status).toBe(503);
    expect(fromStorageError(new StorageError('NotFound', 's3', 'storages.S3', 'x')).status).toBe(404);
  });
});

describe('configuration of cloud instances', () => {
  const storages = {
    'storages.Default': { type: 'local-disk', root: '/tmp/x' },
    'storages.S3': { type: 's3', bucketName: 'bkt', region: 'eu-west-1' },
    'storages.Minio': {
      type: 'minio',
      endPoint: 'http://minio:9000',
      allowHttp: true,
      bucketName: 'bkt',
      accessKeyId: 'ak',
      accessKeySecret: 'sk',
    },
    'storages.Azure': {
      type: 'azure-blob',
      accessKeyId: 'acct',
      accessKeySecret: 'a2V5',
      bucketName: 'container',
    },
    'storages.MyOss': {
      type: 'aliyun-oss',
      region: 'oss-cn-hangzhou',
      bucketName: 'bkt',
      accessKeyId: 'ak',
      accessKeySecret: 'sk',
    },
  };

  it('parses every type with its defaults', () => {
    const c = parseConfig({ ...base, STORAGES: JSON.stringify(storages), DEFAULT_STORAGE: 'storages.MyOss' });
    expect(c.defaultStorage).toBe('storages.MyOss');
    expect(c.storages['storages.S3']).toMatchObject({ pathStyle: false, uploadMethod: 'POST' });
    expect(c.storages['storages.Minio']).toMatchObject({ pathStyle: true, region: 'us-east-1' });
    expect(c.storages['storages.MyOss']).toMatchObject({ cname: false, signatureVersion: 'v4' });
  });

  it('takes endpoints as URLs or bare host names, and credentials from a secret instead of the settings', () => {
    const c = parseConfig({
      ...base,
      STORAGES: JSON.stringify({
        ...storages,
        'storages.Deployed': {
          type: 'aliyun-oss',
          region: 'oss-cn-hangzhou',
          endPoint: 'oss-cn-hangzhou.aliyuncs.com',
          bucketName: 'acme-files',
          credentialsSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:oss-acme-AbCdEf',
        },
      }),
    });
    expect(c.storages['storages.Deployed']).toMatchObject({
      endPoint: 'https://oss-cn-hangzhou.aliyuncs.com',
      credentialsSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:oss-acme-AbCdEf',
    });
    expect(() =>
      parseConfig({
        ...base,
        STORAGES: JSON.stringify({
          ...storages,
          'storages.NoKeys': { type: 'minio', endPoint: 'minio:9000', bucketName: 'bkt' },
        }),
      }),
    ).toThrow(/storages\.NoKeys\.accessKeyId: is required .*credentialsSecretArn/);
  });

  it('names the instance and the field that is wrong, never a secret', () => {
    const bad = (instance: Record<string, unknown>) =>
      parseConfig({ ...base, STORAGES: JSON.stringify({ ...storages, 'storages.Bad': instance }) });
    expect(() => bad({ type: 'minio', bucketName: 'bkt', accessKeyId: 'ak', accessKeySecret: 'sk' })).toThrow(
      /storages\.Bad\.endPoint/,
    );
    expect(() => bad({ type: 's3', bucketName: 'bkt', accessKeyId: 'ak' })).toThrow(
      /storages\.Bad\.accessKeySecret/,
    );
    expect(() => bad({ type: 's3', bucketName: 'bkt', endPoint: 'not a url' })).toThrow(
      /storages\.Bad\.endPoint/,
    );
    expect(() =>
      bad({ type: 'aliyun-oss', bucketName: 'bkt', accessKeyId: 'ak', accessKeySecret: 'TOPSECRET' }),
    ).toThrow(/storages\.Bad\.region/);
    expect(() =>
      bad({
        type: 'azure-blob',
        accessKeyId: 'a',
        accessKeySecret: 'TOPSECRET',
        bucketName: 'container',
        customDomain: 'ftp://files.example.com',
      }),
    ).toThrow(/storages\.Bad\.customDomain/);
    expect(() => bad({ type: 'gcs' })).toThrow(/storages\.Bad\.type/);
    expect(() => bad({ type: 's3', bucketName: 'My_Bucket' })).toThrow(
      /storages\.Bad\.bucketName: must be 3-63/,
    );
    try {
      bad({ type: 'aliyun-oss', bucketName: 'bkt', accessKeyId: 'ak', accessKeySecret: 'TOPSECRET' });
    } catch (e) {
      expect((e as Error).message).not.toContain('TOPSECRET');
    }
  });
});

describe('LazyBackend', () => {
  it('forwards copy to the adapter it loads, arguments and answer unchanged', async () => {
    const calls: [string, string][] = [];
    const adapter = {
      copy: async (from: string, to: string) => {
        calls.push([from, to]);
        return { key: to, size: 3, etag: '"e"' };
      },
    };
    const caps = {
      presignUpload: true,
      presignDownload: true,
      range: true,
      multipart: false,
      sealedParts: false,
    };
    let loads = 0;
    const lazy = new LazyBackend('s3', 'storages.S3', caps, async () => {
      loads++;
      return adapter as unknown as StorageBackend;
    });
    expect(await lazy.copy('_staging/t/u.bin', 't/ab/final.bin')).toEqual({
      key: 't/ab/final.bin',
      size: 3,
      etag: '"e"',
    });
    await lazy.copy('a', 'b');
    expect(calls).toEqual([
      ['_staging/t/u.bin', 't/ab/final.bin'],
      ['a', 'b'],
    ]);
    expect(loads).toBe(1);
  });
});

describe('registry', () => {
  afterEach(() => {
    for (const k of ['STORAGES', 'DEFAULT_STORAGE', 'SIGNING_SECRET']) delete process.env[k];
    resetConfig();
    resetStorages();
  });

  it('builds each configured type once, and lists them with capabilities but without settings', async () => {
    Object.assign(process.env, {
      ...base,
      STORAGES: JSON.stringify({
        'storages.Default': { type: 'local-disk', root: '/tmp/x' },
        'storages.S3': { type: 's3', bucketName: 'bkt', accessKeyId: 'AKIA', accessKeySecret: 'TOPSECRET' },
        'storages.Minio': {
          type: 'minio',
          endPoint: 'https://minio.example.com',
          bucketName: 'bkt',
          accessKeyId: 'ak',
          accessKeySecret: 'TOPSECRET',
        },
        'storages.Azure': {
          type: 'azure-blob',
          accessKeyId: 'acct',
          accessKeySecret: 'a2V5',
          bucketName: 'container',
        },
        'storages.Oss': {
          type: 'aliyun-oss',
          region: 'oss-cn-hangzhou',
          bucketName: 'bkt',
          accessKeyId: 'ak',
          accessKeySecret: 'TOPSECRET',
        },
      }),
    });
    resetConfig();
    // Cloud adapters load on first use: a cold start pays only for the SDKs it calls.
    const s3 = getStorage('storages.S3') as LazyBackend;
    expect(s3).toBeInstanceOf(LazyBackend);
    expect(s3).toBe(getStorage('storages.S3'));
    expect(s3).toMatchObject({ type: 's3', name: 'storages.S3' });
    const loaded: [string, unknown][] = [
      ['storages.S3', S3Backend],
      ['storages.Minio', MinioBackend],
      ['storages.Azure', AzureBlobBackend],
      ['storages.Oss', AliyunOssBackend],
    ];
    for (const [name, type] of loaded) {
      const lazy = getStorage(name) as LazyBackend;
      const real = await lazy.backend();
      expect(real).toBeInstanceOf(type as new () => unknown);
      expect(real).toMatchObject({ name, type: lazy.type });
      // The capabilities known before loading are the adapter's own.
      expect(lazy.capabilities).toEqual(real.capabilities);
      expect(Boolean(lazy.multipart)).toBe(Boolean(real.multipart));
    }
    expect(
      await getStorage('storages.Oss').presignDownload('a.txt', {
        expiresIn: 60,
        disposition: 'inline',
        contentType: 'text/plain',
      }),
    ).toMatch(/^https:\/\/bkt\.oss-cn-hangzhou\.aliyuncs\.com\/a\.txt\?/);
    const listed = listStorages();
    expect(listed.map((s) => [s.name, s.type])).toEqual([
      ['storages.Default', 'local-disk'],
      ['storages.S3', 's3'],
      ['storages.Minio', 'minio'],
      ['storages.Azure', 'azure-blob'],
      ['storages.Oss', 'aliyun-oss'],
    ]);
    expect(listed.find((s) => s.type === 's3')?.capabilities).toEqual({
      presignUpload: true,
      presignDownload: true,
      range: true,
      multipart: true,
      sealedParts: true,
    });
    expect(listed.find((s) => s.type === 'azure-blob')?.capabilities.sealedParts).toBe(false);
    expect(JSON.stringify(listed)).not.toContain('TOPSECRET');
  });

  it('S3 presigned PUTs and parts carry no SDK checksum a browser could not match (AWS defaults)', async () => {
    const s3 = new S3Backend({
      name: 'storages.Aws',
      bucketName: 'bkt',
      region: 'eu-west-1',
      accessKeyId: 'AKIAEXAMPLE',
      accessKeySecret: 'x',
      uploadMethod: 'PUT',
    });
    const put = new URL(
      (await s3.presignUpload('a.txt', { contentType: 'text/plain', maxBytes: 9, expiresIn: 60 })).url,
    );
    const part = new URL((await s3.multipart.presignPart('a.txt', 'up-1', 2, { expiresIn: 60 })).url);
    for (const url of [put, part]) {
      expect(url.host).toBe('bkt.s3.eu-west-1.amazonaws.com');
      expect([...url.searchParams.keys()].filter((k) => /checksum/i.test(k))).toEqual([]);
    }
    expect(part.searchParams.get('partNumber')).toBe('2');
    expect(part.searchParams.get('uploadId')).toBe('up-1');
    s3.destroy();
  });

  it('presigns locally: OSS URLs are virtual-hosted, Azure SAS uploads name the blob type', async () => {
    const oss = new AliyunOssBackend({
      name: 'storages.Oss',
      region: 'oss-cn-hangzhou',
      bucketName: 'photos',
      accessKeyId: 'ak',
      accessKeySecret: 'sk',
    });
    const url = new URL(
      await oss.presignDownload('a/b c.jpg', {
        expiresIn: 60,
        disposition: 'inline',
        contentType: 'image/jpeg',
      }),
    );
    expect(url.host).toBe('photos.oss-cn-hangzhou.aliyuncs.com');
    expect(url.protocol).toBe('https:');
    expect(url.pathname).toBe('/a/b%20c.jpg');
    expect(url.searchParams.get('x-oss-signature-version')).toBe('OSS4-HMAC-SHA256');
    const azure = new AzureBlobBackend({
      name: 'storages.Az',
      accessKeyId: 'acct',
      accessKeySecret: 'a2V5',
      bucketName: 'container',
      customDomain: 'https://cdn.example.com',
    });
    const upload = await azure.presignUpload('k.txt', {
      contentType: 'text/plain',
      maxBytes: 5,
      expiresIn: 60,
    });
    expect(upload).toMatchObject({
      method: 'PUT',
      headers: { 'x-ms-blob-type': 'BlockBlob', 'content-type': 'text/plain' },
    });
    expect(new URL(upload.url).host).toBe('cdn.example.com');
    expect(new URL(upload.url).searchParams.get('sp')).toBe('cw');
  });
});
