import { mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../infra/local/dynamodb-local';
import { type S3Emulator, startS3rver } from '../../infra/local/emulators';
import { MinioBackend, type MinioOptions } from '../../shared/backends/minio';
import { S3Backend, type S3Options } from '../../shared/backends/s3';
import { StorageError } from '../../shared/errors';
import { describeBackendContract, sendUpload } from './backend-contract';

/**
 * The S3 adapter (AWS SDK v3) and the MinIO adapter (minio client) against one in-process s3rver.
 * s3rver checks SigV4 signatures and expiry of presigned GET and PUT URLs, but accepts POST
 * uploads without looking at the policy or its signature (so the S3 adapter's POST-policy
 * uploads cannot be tested for rejection here; the service's finalize checks the size anyway).
 * Two more s3rver bugs the targets declare: it re-encodes query values with encodeURIComponent,
 * not RFC 3986, so presigned URLs whose response-content-disposition holds ' ( ) ! * fail its
 * signature check (AWS accepts them); it answers `bytes=0-0` with the whole object (the
 * adapters cut any over-wide answer to the range asked); it decodes x-amz-copy-source with
 * decodeURI, so a copy source whose key holds + = & ; , @ $ (sent percent-encoded, as AWS wants
 * them) is not found; it walks keys in UTF-8 byte order but compares the list cursor in UTF-16
 * code units, so paging can skip keys whose two orders differ. Its missing multipart calls
 * (ListParts, AbortMultipartUpload, part checks on complete) are added by infra/local/s3rver-multipart.ts.
 */
let emulator: S3Emulator;
let directory: string;
const started = (async () => {
  directory = mkdtempSync(join(tmpdir(), 'contract-s3rver-'));
  emulator = await startS3rver({ directory, bucket: 'contract' });
  return emulator;
})();
beforeAll(() => started);
afterAll(async () => {
  await emulator?.stop();
  rmSync(directory, { recursive: true, force: true });
});

/**
 * Test code only: the SDK signs bucket-level paths as "/bucket/" and s3rver canonicalizes them as
 * "/bucket", so ListObjectsV2 and DeleteObjects would fail its signature check.
 */
function stripBucketTrailingSlash(backend: S3Backend): S3Backend {
  backend.client.middlewareStack.add(
    (next) => async (args) => {
      const request = args.request as { path?: string };
      if (typeof request.path === 'string' && /^\/[^/]+\/$/.test(request.path)) {
        request.path = request.path.slice(0, -1);
      }
      return next(args);
    },
    { step: 'build', name: 's3rverBucketPath' },
  );
  return backend;
}

const s3 = (extra: Partial<S3Options> = {}) =>
  stripBucketTrailingSlash(
    new S3Backend({
      name: 'storages.S3',
      bucketName: emulator.bucket,
      region: 'us-east-1',
      endPoint: emulator.endpoint,
      accessKeyId: emulator.accessKeyId,
      accessKeySecret: emulator.accessKeySecret,
      pathStyle: true,
      ...extra,
    }),
  );

const minio = (extra: Partial<MinioOptions> = {}) =>
  new MinioBackend({
    name: 'storages.Minio',
    bucketName: emulator.bucket,
    region: 'us-east-1',
    endPoint: emulator.endpoint,
    accessKeyId: emulator.accessKeyId,
    accessKeySecret: emulator.accessKeySecret,
    // Presigned PUT here (the S3 adapter covers POST policies), so s3rver checks the upload URLs too.
    uploadMethod: 'PUT',
    ...extra,
  });

describeBackendContract('s3 (AWS SDK v3, POST policy uploads)', async () => {
  await started;
  const backend = s3();
  const closed = `http://127.0.0.1:${await freePort()}`;
  return {
    backend,
    checks: { uploadSignature: false, downloadSignature: true, expiry: true },
    verifiesRfc3986Query: false,
    copiesReservedCharacters: false,
    pagesInUtf8Order: false,
    storedContentType: async (Key) =>
      (await backend.client.send(new HeadObjectCommand({ Bucket: emulator.bucket, Key }))).ContentType,
    withWrongSecret: () => s3({ accessKeySecret: 'not-the-secret' }),
    unreachable: () => s3({ endPoint: closed, clientConfig: { maxAttempts: 1 } }),
    close: async () => backend.destroy(),
  };
});

describeBackendContract('minio (minio client, presigned PUT uploads)', async () => {
  await started;
  const closed = `http://127.0.0.1:${await freePort()}`;
  const backend = minio();
  return {
    backend,
    checks: { uploadSignature: true, downloadSignature: true, expiry: true },
    verifiesRfc3986Query: false,
    copiesReservedCharacters: false,
    pagesInUtf8Order: false,
    storedContentType: async (key) =>
      (await backend.client.statObject(emulator.bucket, key)).metaData['content-type'] as string | undefined,
    withWrongSecret: () => minio({ accessKeySecret: 'not-the-secret' }),
    unreachable: () => minio({ endPoint: closed }),
  };
});

describe('s3 adapter: the other upload method and the settings', () => {
  it('presigned PUT uploads work and a tampered one is refused', async () => {
    await started;
    const backend = s3({ uploadMethod: 'PUT' });
    const instructions = await backend.presignUpload('put-method/a.txt', {
      contentType: 'text/plain',
      maxBytes: 100,
      expiresIn: 60,
    });
    expect(instructions).toMatchObject({ method: 'PUT', headers: { 'content-type': 'text/plain' } });
    expect((await sendUpload(instructions, 'via PUT')).status).toBe(200);
    expect((await backend.head('put-method/a.txt'))?.size).toBe(7);
    const forged = new URL(instructions.url);
    forged.pathname = forged.pathname.replace('a.txt', 'b.txt');
    expect((await sendUpload(instructions, 'forged', forged.toString())).status).toBe(403);
    expect(await backend.head('put-method/b.txt')).toBeNull();
    backend.destroy();
  });

  it('POST policies carry the size range and the content type', async () => {
    await started;
    const backend = s3();
    const post = await backend.presignUpload('policy/a.txt', {
      contentType: 'text/plain',
      maxBytes: 1234,
      expiresIn: 60,
    });
    expect(post.method).toBe('POST');
    const policy = JSON.parse(Buffer.from(post.fields?.Policy ?? '', 'base64').toString()) as {
      conditions: unknown[];
    };
    expect(policy.conditions).toContainEqual(['content-length-range', 0, 1234]);
    expect(policy.conditions).toContainEqual(['eq', '$Content-Type', 'text/plain']);
    expect(post.fields).toMatchObject({ key: 'policy/a.txt', 'Content-Type': 'text/plain' });
    backend.destroy();
  });

  it('a custom domain is the host of presigned downloads', async () => {
    await started;
    const backend = s3({ customDomain: 'https://files.example.com' });
    const url = new URL(
      await backend.presignDownload('a/b.txt', {
        expiresIn: 60,
        disposition: 'inline',
        contentType: 'text/plain',
      }),
    );
    expect(url.host).toBe('files.example.com');
    expect(url.pathname).toBe('/a/b.txt');
    expect(url.searchParams.get('response-content-disposition')).toBe('inline');
    backend.destroy();
  });
});

describe('copy of a source over 5 GiB (one CopyObject takes at most 5 GiB)', () => {
  const over = 5 * 1024 ** 3 + 1;
  it.each([
    ['s3', () => s3()],
    ['minio', () => minio()],
  ] as const)('%s: a clear StorageError, and no target', async (name, make) => {
    await started;
    const backend = make();
    const key = `huge-${name}/source.bin`;
    await backend.put(key, Buffer.from('x'), { contentType: 'application/octet-stream' });
    // s3rver reports the size of its file: a sparse file makes the object larger than 5 GiB without the bytes.
    const file = join(directory, emulator.bucket, `${key}._S3rver_object`);
    truncateSync(file, over);
    try {
      expect((await backend.head(key))?.size).toBe(over);
      const error = await backend.copy(key, `huge-${name}/target.bin`).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageError);
      expect(error).toMatchObject({ kind: 'Unknown', storageType: backend.type, instance: backend.name });
      expect((error as Error).message).toMatch(/: copy of 5368709121 bytes is not supported: .*5 GiB$/);
      expect(await backend.head(`huge-${name}/target.bin`)).toBeNull();
    } finally {
      truncateSync(file, 1);
      await backend.delete(key);
      if (backend instanceof S3Backend) backend.destroy();
    }
  });
});

describe('listParts pages past 1000 parts (one ListParts page)', () => {
  it.each([
    ['s3', () => s3()],
    ['minio', () => minio()],
  ] as const)('%s: all 1001 parts, in order, with their sizes and etags', async (name, make) => {
    await started;
    const backend = make();
    const key = `many-parts-${name}/a.bin`;
    const { uploadId } = await backend.multipart.create(key, { contentType: 'application/octet-stream' });
    const sender = s3();
    const etags = new Map<number, string | undefined>();
    const numbers = Array.from({ length: 1001 }, (_, i) => i + 1);
    for (let i = 0; i < numbers.length; i += 50) {
      await Promise.all(
        numbers.slice(i, i + 50).map(async (PartNumber) => {
          const out = await sender.client.send(
            new UploadPartCommand({
              Bucket: emulator.bucket,
              Key: key,
              UploadId: uploadId,
              PartNumber,
              Body: Buffer.from(`part ${PartNumber}`),
            }),
          );
          etags.set(PartNumber, out.ETag);
        }),
      );
    }
    const listed = await backend.multipart.listParts(key, uploadId);
    expect(listed.map((p) => p.partNumber)).toEqual(numbers);
    expect(listed.every((p) => p.size === `part ${p.partNumber}`.length)).toBe(true);
    expect(listed.every((p) => p.etag === etags.get(p.partNumber))).toBe(true);
    await backend.multipart.abort(key, uploadId);
    await expect(backend.multipart.listParts(key, uploadId)).rejects.toMatchObject({ kind: 'NotFound' });
    sender.destroy();
    if (backend instanceof S3Backend) backend.destroy();
  });
});
