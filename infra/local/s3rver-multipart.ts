import { randomUUID } from 'node:crypto';
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/**
 * s3rver (4.0) has multipart uploads without ListParts or AbortMultipartUpload, takes parts for
 * uploads that do not exist, and completes without looking at the etags. The resumable direct
 * uploads need all of it, locally (npm start) and in the backend contract tests, so this adds the
 * missing parts of the S3 API to s3rver's own routes, behind its own signature checks, answering
 * as S3 does:
 * - ListParts (GET ?uploadId): the parts above part-number-marker, max-parts (at most 1000) a page;
 * - AbortMultipartUpload (DELETE ?uploadId): 204, the parts gone;
 * - UploadPart, ListParts, Abort and Complete of an unknown upload (or another key's): 404 NoSuchUpload;
 * - CompleteMultipartUpload: 400 InvalidPartOrder unless ascending, InvalidPart for a part not
 *   stored or with another ETag, EntityTooSmall for a part but the last under 5 MiB; nothing stored then.
 * It works on s3rver's file store layout (uploads/{uploadId}/ with key, metadata, N and N.md5).
 */

interface Ctx {
  method: string;
  query: Record<string, string | string[] | undefined>;
  params: { bucket: string; key: string; queryMethod?: string };
  headers: Record<string, string | string[] | undefined>;
  store: Store;
  body: unknown;
  status: number;
}
interface Store {
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  putContent(path: string, content: unknown): Promise<[number, string]>;
  putPart(
    bucket: string,
    uploadId: string,
    partNumber: string,
    content: unknown,
  ): Promise<{ size: number; md5: string }>;
  putObjectMultipart(
    bucket: string,
    uploadId: string,
    parts: { number: number; etag: string }[],
  ): Promise<unknown>;
}
type Handler = (ctx: Ctx, next?: () => Promise<unknown>) => unknown;
interface Layer {
  methods: string[];
  path: string;
  stack: Handler[];
}

const MIN_PART_BYTES = 5 * 1024 * 1024;
let installed = false;

export function addMultipartToS3rver(): void {
  if (installed) return;
  installed = true;
  const require = createRequire(import.meta.url);
  const router = require('@20minutes/s3rver/lib/routes') as { stack: Layer[] };
  const S3Error = require('@20minutes/s3rver/lib/models/error') as new (
    code: string,
    message: string,
  ) => Error;
  const FilesystemStore = require('@20minutes/s3rver/lib/stores/filesystem') as {
    prototype: Store;
  };

  const uploadDir = (store: Store, bucket: string, uploadId: string) =>
    join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
  const noSuchUpload = () =>
    new S3Error(
      'NoSuchUpload',
      'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
    );
  /** The folder of the upload named in the query, for this key; NoSuchUpload otherwise. */
  const existingUpload = async (ctx: Ctx): Promise<string> => {
    const uploadId = String(ctx.query.uploadId ?? '');
    if (!/^[0-9a-f]{32}$/.test(uploadId)) throw noSuchUpload();
    const dir = uploadDir(ctx.store, ctx.params.bucket, uploadId);
    const key = await readFile(join(dir, 'key'), 'utf8').catch(() => undefined);
    if (key !== ctx.params.key) throw noSuchUpload();
    return dir;
  };
  const storedParts = async (dir: string) => {
    // A part counts once its PUT finished: s3rver writes N.md5 after the whole body (a PUT cut off
    // midway leaves no N.md5, and S3 does not list such a part).
    const all = await readdir(dir);
    const names = all.filter((n) => /^\d+$/.test(n) && all.includes(`${n}.md5`));
    const parts = await Promise.all(
      names.map(async (n) => ({
        number: Number(n),
        size: (await stat(join(dir, n))).size,
        md5: (await readFile(join(dir, `${n}.md5`), 'utf8')).trim(),
        lastModified: (await stat(join(dir, n))).mtime,
      })),
    );
    return parts.sort((a, b) => a.number - b.number);
  };

  const wrap = (method: string, extend: (ctx: Ctx, original: Handler) => Promise<unknown>) => {
    const layer = router.stack.find((l) => l.path === '/:bucket/:key+' && l.methods.includes(method));
    const original = layer?.stack[layer.stack.length - 1];
    if (!layer || !original) throw new Error(`s3rver has no ${method} /:bucket/:key+ route to extend`);
    layer.stack[layer.stack.length - 1] = (ctx) => extend(ctx, original);
  };

  wrap('GET', async (ctx, original) => {
    if (ctx.params.queryMethod !== 'uploadId') return original(ctx);
    const dir = await existingUpload(ctx);
    const maxParts = Math.min(Number(ctx.query['max-parts'] ?? 1000), 1000);
    const marker = Number(ctx.query['part-number-marker'] ?? 0);
    const above = (await storedParts(dir)).filter((p) => p.number > marker);
    const page = above.slice(0, maxParts);
    ctx.body = {
      ListPartsResult: {
        Bucket: ctx.params.bucket,
        Key: ctx.params.key,
        UploadId: ctx.query.uploadId,
        PartNumberMarker: marker,
        NextPartNumberMarker: page[page.length - 1]?.number ?? marker,
        MaxParts: maxParts,
        IsTruncated: above.length > page.length,
        Part: page.map((p) => ({
          PartNumber: p.number,
          LastModified: p.lastModified.toISOString(),
          ETag: `"${p.md5}"`,
          Size: p.size,
        })),
      },
    };
  });
  wrap('DELETE', async (ctx, original) => {
    if (ctx.params.queryMethod !== 'uploadId') return original(ctx);
    await rm(await existingUpload(ctx), { recursive: true, force: true });
    ctx.status = 204;
  });
  wrap('PUT', async (ctx, original) => {
    if (ctx.params.queryMethod === 'uploadId') await existingUpload(ctx);
    return original(ctx);
  });
  wrap('POST', async (ctx, original) => {
    if (ctx.params.queryMethod === 'uploadId') await existingUpload(ctx);
    return original(ctx);
  });

  // s3rver writes a part in place: a PUT cut off midway would leave a truncated part beside the
  // previous one's N.md5. As in S3, a part replaces the stored one only once its whole body arrived.
  FilesystemStore.prototype.putPart = async function (this: Store, bucket, uploadId, partNumber, content) {
    const partPath = join(uploadDir(this, bucket, uploadId), String(partNumber));
    const temp = `${partPath}.${randomUUID()}.tmp`;
    try {
      const [size, md5] = await this.putContent(temp, content);
      // Unlisted for a moment (no N.md5) rather than listed with the other part's ETag.
      await rm(`${partPath}.md5`, { force: true });
      await rename(temp, partPath);
      await writeFile(`${partPath}.md5`, md5);
      return { size, md5 };
    } finally {
      await rm(temp, { force: true });
    }
  };

  // Complete hands the parts it parsed to the store: they are checked there, before any byte is written.
  const assemble = FilesystemStore.prototype.putObjectMultipart;
  FilesystemStore.prototype.putObjectMultipart = async function (this: Store, bucket, uploadId, parts) {
    const stored = new Map((await storedParts(uploadDir(this, bucket, uploadId))).map((p) => [p.number, p]));
    for (const [i, part] of parts.entries()) {
      if (i > 0 && part.number <= (parts[i - 1] as { number: number }).number)
        throw new S3Error('InvalidPartOrder', 'The list of parts was not in ascending order.');
      const s = stored.get(part.number);
      if (!s || s.md5 !== part.etag)
        throw new S3Error(
          'InvalidPart',
          "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
        );
      if (i < parts.length - 1 && s.size < MIN_PART_BYTES)
        throw new S3Error(
          'EntityTooSmall',
          'Your proposed upload is smaller than the minimum allowed object size.',
        );
    }
    return assemble.call(this, bucket, uploadId, parts);
  };
}
