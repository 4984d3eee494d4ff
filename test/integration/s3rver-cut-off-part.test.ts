import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateMultipartUploadCommand,
  ListPartsCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type S3Emulator, startS3rver } from '../../infra/local/emulators';

/**
 * A browser reloaded mid-upload cuts its part PUTs off midway. S3 lists a part only once its whole
 * body arrived, and a cut-off PUT of a part number already stored leaves the stored part as it
 * was. The emulator must answer ListParts the same, or a resumed upload fails (500 on a part
 * without its ETag) or completes with a truncated part.
 */
const MiB = 1024 * 1024;
let emulator: S3Emulator;
let directory: string;
let client: S3Client;
beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 's3rver-cut-off-'));
  emulator = await startS3rver({ directory, bucket: 'cut', allowMismatchedSignatures: true });
  client = new S3Client({
    region: 'us-east-1',
    endpoint: emulator.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: emulator.accessKeyId, secretAccessKey: emulator.accessKeySecret },
  });
});
afterAll(async () => {
  client?.destroy();
  await emulator?.stop();
  rmSync(directory, { recursive: true, force: true });
});

/** PUTs `sent` bytes of a body that says it has `declared`, then drops the connection if short. */
function putPart(url: string, body: Buffer, declared = body.length): Promise<number | 'cut off'> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'PUT', headers: { 'content-length': declared } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (e: NodeJS.ErrnoException) =>
      e.code === 'ECONNRESET' || e.code === 'EPIPE' ? resolve('cut off') : reject(e),
    );
    if (body.length === declared) return req.end(body);
    req.write(body, () => setTimeout(() => req.destroy(), 200));
    req.on('close', () => resolve('cut off'));
  });
}

describe('s3rver multipart parts whose PUT was cut off', () => {
  it('lists a part only once its whole body arrived, and a cut-off re-upload keeps the stored part', async () => {
    const Key = 'uploads/resumed.bin';
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: 'cut', Key }));
    const url = (PartNumber: number) =>
      getSignedUrl(client, new UploadPartCommand({ Bucket: 'cut', Key, UploadId, PartNumber }), {
        expiresIn: 300,
      });
    const list = async () =>
      ((await client.send(new ListPartsCommand({ Bucket: 'cut', Key, UploadId }))).Parts ?? []).map((p) => ({
        n: p.PartNumber,
        size: p.Size,
        etag: p.ETag,
      }));

    // Part 2 cut off after 1 MiB of 5: not a part of the upload.
    expect(await putPart(await url(2), Buffer.alloc(MiB, 2), 5 * MiB)).toBe('cut off');
    const whole = Buffer.alloc(5 * MiB, 1);
    expect(await putPart(await url(1), whole)).toBe(200);
    const stored = { n: 1, size: 5 * MiB, etag: `"${createHash('md5').update(whole).digest('hex')}"` };
    expect(await list()).toEqual([stored]);

    // Part 1 sent again and cut off: the part stored before stays, whole.
    expect(await putPart(await url(1), Buffer.alloc(MiB, 9), 5 * MiB)).toBe('cut off');
    expect(await list()).toEqual([stored]);
  });
});
