import type { Readable } from 'node:stream';
import { Client, type ClientOptions, CopyConditions } from 'minio';
import { StorageError, type StorageErrorKind } from '../errors';
import {
  chunks,
  exactRange,
  expiresAt,
  kindOfStatus,
  MAX_COPY_BYTES,
  normalize,
  signedPut,
  startFromContentRange,
  tooLargeToCopy,
} from './common';
import type {
  ByteRange,
  Capabilities,
  MultipartUploads,
  ObjectInfo,
  PresignedUpload,
  StorageBackend,
  StoredPart,
} from './contract';

const TYPE = 'minio';
const DEFAULT_PART_SIZE = 8 * 1024 * 1024;

export interface MinioOptions {
  name: string;
  /** The server's URL, e.g. http://minio.internal:9000 */
  endPoint: string;
  bucketName: string;
  accessKeyId: string;
  accessKeySecret: string;
  region: string;
  /** MinIO usually needs path-style URLs (the default). */
  pathStyle?: boolean;
  /** Base URL of presigned download URLs, when clients reach the server under another name. */
  customDomain?: string;
  /** POST (a policy that enforces the size, the default) or PUT. */
  uploadMethod?: 'POST' | 'PUT';
  /** Part size of streamed uploads of unknown length (bytes held in memory per part). */
  partSize?: number;
}

function clientOptions(url: string, o: MinioOptions): ClientOptions {
  const u = new URL(url);
  const useSSL = u.protocol === 'https:';
  return {
    endPoint: u.hostname,
    port: u.port ? Number(u.port) : useSSL ? 443 : 80,
    useSSL,
    accessKey: o.accessKeyId,
    secretKey: o.accessKeySecret,
    region: o.region,
    pathStyle: o.pathStyle ?? true,
  };
}

/** MinIO (and other S3-compatible stores) through the minio client. */
export class MinioBackend implements StorageBackend {
  readonly type = TYPE;
  readonly name: string;
  readonly capabilities: Capabilities = {
    presignUpload: true,
    presignDownload: true,
    range: true,
    multipart: true,
    sealedParts: true,
  };
  readonly client: Client;
  readonly multipart: MultipartUploads;
  private readonly presignClient: Client;
  private readonly bucket: string;

  constructor(private readonly options: MinioOptions) {
    this.name = options.name;
    this.bucket = options.bucketName;
    this.client = new Client(clientOptions(options.endPoint, options));
    // The host is part of the signature, so URLs for another host are signed by a client for that host.
    this.presignClient = options.customDomain
      ? new Client(clientOptions(options.customDomain, options))
      : this.client;
    this.multipart = this.multipartUploads();
  }

  private fail(action: string, e: unknown): StorageError {
    return normalize(e, TYPE, this.name, action, classifyMinio);
  }

  async put(key: string, body: Readable | Buffer, options: { contentType: string; size?: number }) {
    const headers = { 'Content-Type': options.contentType };
    try {
      if (Buffer.isBuffer(body)) {
        const out = await this.client.putObject(this.bucket, key, body, body.length, headers);
        return { key, size: body.length, etag: out.etag };
      }
      return await this.putStream(key, body, headers);
    } catch (e) {
      throw this.fail('put', e);
    }
  }

  /**
   * Streams of unknown length go up in parts of `partSize`, one part in memory at a time: a single
   * PUT when the body fits in one part, a multipart upload otherwise. (The client's own stream
   * upload first lists incomplete uploads to resume one, which not every S3-compatible store has.)
   */
  private async putStream(key: string, body: Readable, headers: Record<string, string>): Promise<ObjectInfo> {
    const partSize = this.options.partSize ?? DEFAULT_PART_SIZE;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let total = 0;
    let uploadId: string | undefined;
    const etags: { part: number; etag: string }[] = [];
    const flush = async () => {
      const part = Buffer.concat(pending);
      pending = [];
      pendingBytes = 0;
      uploadId ??= await this.client.initiateNewMultipartUpload(this.bucket, key, headers);
      const out = await this.client.uploadPart(
        {
          bucketName: this.bucket,
          objectName: key,
          uploadID: uploadId,
          partNumber: etags.length + 1,
          headers: {},
        },
        part,
      );
      etags.push({ part: out.part, etag: out.etag });
    };
    try {
      for await (const chunk of body) {
        const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
        pending.push(buffer);
        pendingBytes += buffer.length;
        total += buffer.length;
        if (pendingBytes >= partSize) await flush();
      }
      if (!uploadId) {
        const out = await this.client.putObject(
          this.bucket,
          key,
          Buffer.concat(pending),
          pendingBytes,
          headers,
        );
        return { key, size: total, etag: out.etag };
      }
      if (pendingBytes > 0) await flush();
      const out = await this.client.completeMultipartUpload(this.bucket, key, uploadId, etags);
      return { key, size: total, etag: out.etag };
    } catch (e) {
      if (uploadId) await this.client.abortMultipartUpload(this.bucket, key, uploadId).catch(() => undefined);
      throw e;
    }
  }

  async get(key: string, range?: ByteRange): Promise<{ body: Readable; info: ObjectInfo }> {
    try {
      const stat = await this.client.statObject(this.bucket, key);
      const info = { key, size: stat.size, lastModified: stat.lastModified, etag: stat.etag };
      if (!range) return { body: await this.client.getObject(this.bucket, key), info };
      const body = await this.client.getPartialObject(
        this.bucket,
        key,
        range.start,
        range.end - range.start + 1,
      );
      const served = (body as Readable & { headers?: Record<string, string> }).headers?.['content-range'];
      return { body: exactRange(body, startFromContentRange(served), range), info };
    } catch (e) {
      throw this.fail('get', e);
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const stat = await this.client.statObject(this.bucket, key);
      return { key, size: stat.size, lastModified: stat.lastModified, etag: stat.etag };
    } catch (e) {
      const error = this.fail('head', e);
      if (error.kind === 'NotFound') return null;
      throw error;
    }
  }

  /**
   * CopyObject, after a statObject that tells a missing source and its size (one CopyObject
   * copies up to 5 GiB), bound to the ETag seen so that the size returned is the one copied.
   * The client's (bucket, object, source) form encodes the source as RFC 3986 with slashes kept;
   * its CopySourceOptions form uses encodeURI, which leaves ? # + & = unencoded.
   */
  async copy(fromKey: string, toKey: string): Promise<ObjectInfo> {
    const source = await this.head(fromKey);
    if (!source) throw new StorageError('NotFound', TYPE, this.name, `no object ${JSON.stringify(fromKey)}`);
    if (source.size > MAX_COPY_BYTES) throw tooLargeToCopy(TYPE, this.name, source.size);
    const conditions = new CopyConditions();
    if (source.etag) conditions.setMatchETag(`"${source.etag.replace(/"/g, '')}"`);
    try {
      const out = await this.client.copyObject(this.bucket, toKey, `${this.bucket}/${fromKey}`, conditions);
      const result = out as { etag?: string; lastModified?: Date | string };
      return {
        key: toKey,
        size: source.size,
        etag: result.etag,
        lastModified: result.lastModified ? new Date(result.lastModified) : undefined,
      };
    } catch (e) {
      throw this.fail('copy', e);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.removeObject(this.bucket, key);
    } catch (e) {
      const error = this.fail('delete', e);
      if (error.kind !== 'NotFound') throw error;
    }
  }

  async deleteMany(keys: string[]): Promise<void> {
    for (const batch of chunks(keys, 1000)) {
      let results: Awaited<ReturnType<Client['removeObjects']>>;
      try {
        results = await this.client.removeObjects(this.bucket, batch);
      } catch (e) {
        throw this.fail('deleteMany', e);
      }
      const failed = results.filter((r) => r?.Error && r.Error.Code !== 'NoSuchKey');
      if (failed.length) {
        const code = failed[0]?.Error?.Code ?? 'Unknown';
        throw new StorageError(
          classifyCode(code) ?? 'Unknown',
          TYPE,
          this.name,
          `deleteMany failed for ${failed.length} of ${batch.length} keys (${code})`,
        );
      }
    }
  }

  async list(prefix: string, options: { cursor?: string; limit?: number } = {}) {
    try {
      const out = await this.client.listObjectsV2Query(
        this.bucket,
        prefix,
        options.cursor ?? '',
        '',
        Math.min(options.limit ?? 1000, 1000),
        '',
      );
      const items: ObjectInfo[] = out.objects
        .filter((o) => o.name !== undefined)
        .map((o) => ({ key: o.name as string, size: o.size, lastModified: o.lastModified, etag: o.etag }));
      return { items, cursor: out.isTruncated ? out.nextContinuationToken : undefined };
    } catch (e) {
      throw this.fail('list', e);
    }
  }

  async presignUpload(
    key: string,
    options: { contentType: string; maxBytes: number; expiresIn: number },
  ): Promise<PresignedUpload> {
    const now = Date.now();
    try {
      if ((this.options.uploadMethod ?? 'POST') === 'POST') {
        const policy = this.client.newPostPolicy();
        policy.setBucket(this.bucket);
        policy.setKey(key);
        policy.setContentType(options.contentType);
        policy.setContentLengthRange(0, options.maxBytes);
        policy.setExpires(new Date(now + options.expiresIn * 1000));
        const { postURL, formData } = await this.client.presignedPostPolicy(policy);
        return {
          method: 'POST',
          url: postURL,
          headers: {},
          fields: formData as Record<string, string>,
          expiresAt: expiresAt(options.expiresIn, now),
        };
      }
      const url = await this.client.presignedPutObject(this.bucket, key, options.expiresIn);
      return signedPut(url, options.contentType, options.expiresIn, now);
    } catch (e) {
      throw this.fail('presignUpload', e);
    }
  }

  async presignDownload(
    key: string,
    options: { expiresIn: number; disposition: string; contentType: string },
  ): Promise<string> {
    try {
      return await this.presignClient.presignedGetObject(this.bucket, key, options.expiresIn, {
        'response-content-disposition': options.disposition,
        'response-content-type': options.contentType,
      });
    } catch (e) {
      throw this.fail('presignDownload', e);
    }
  }

  private multipartUploads(): MultipartUploads {
    const bucket = this.bucket;
    return {
      create: async (key, { contentType }) => {
        try {
          return {
            uploadId: await this.client.initiateNewMultipartUpload(bucket, key, {
              'Content-Type': contentType,
            }),
          };
        } catch (e) {
          throw this.fail('multipart create', e);
        }
      },
      presignPart: async (key, uploadId, partNumber, { expiresIn }) => {
        const now = Date.now();
        try {
          const url = await this.client.presignedUrl('PUT', bucket, key, expiresIn, {
            partNumber: String(partNumber),
            uploadId,
          });
          return { method: 'PUT', url, headers: {}, expiresAt: expiresAt(expiresIn, now) };
        } catch (e) {
          throw this.fail('multipart presignPart', e);
        }
      },
      listParts: async (key, uploadId) => {
        try {
          // The client pages through ListParts itself (typed protected, public in fact). It strips
          // the quotes from the etags; they are put back, as S3 lists them and a part PUT answers them.
          const listed = await (this.client as unknown as PartLister).listParts(bucket, key, uploadId);
          return listed
            .map(
              (p): StoredPart => ({
                partNumber: Number(p.part),
                size: Number(p.size),
                etag: `"${String(p.etag).replace(/"/g, '')}"`,
              }),
            )
            .sort((a, b) => a.partNumber - b.partNumber);
        } catch (e) {
          throw this.fail('multipart listParts', e);
        }
      },
      complete: async (key, uploadId, parts) => {
        try {
          await this.client.completeMultipartUpload(
            bucket,
            key,
            uploadId,
            parts.map((p) => ({ part: p.partNumber, etag: p.etag?.replace(/"/g, '') })),
          );
        } catch (e) {
          throw this.fail('multipart complete', e);
        }
        const info = await this.head(key);
        if (!info) throw new StorageError('Unknown', TYPE, this.name, 'multipart complete left no object');
        return info;
      },
      abort: async (key, uploadId) => {
        try {
          await this.client.abortMultipartUpload(bucket, key, uploadId);
        } catch (e) {
          const error = this.fail('multipart abort', e);
          if (error.kind !== 'NotFound' && (e as { code?: string }).code !== 'NoSuchUpload') throw error;
        }
      },
    };
  }
}

interface PartLister {
  listParts(
    bucket: string,
    key: string,
    uploadId: string,
  ): Promise<{ part: number; size: number; etag: string }[]>;
}

function classifyCode(code: string | undefined): StorageErrorKind | undefined {
  switch (code) {
    case 'NoSuchKey':
    case 'NotFound':
    case 'NoSuchUpload':
      return 'NotFound';
    case 'InvalidPart':
    case 'InvalidPartOrder':
    case 'EntityTooSmall':
      return 'InvalidPart';
    case 'AccessDenied':
      return 'AccessDenied';
    case 'InvalidAccessKeyId':
    case 'SignatureDoesNotMatch':
    case 'ExpiredToken':
      return 'InvalidCredentials';
    case 'PreconditionFailed':
      return 'Conflict';
    case 'SlowDown':
    case 'ServiceUnavailable':
    case 'XMinioServerNotInitialized':
    case 'InternalError':
      return 'Unavailable';
    default:
      return undefined;
  }
}

function classifyMinio(e: unknown): StorageErrorKind {
  const err = e as { code?: string; amzRequestid?: string; statusCode?: number };
  if (err.code === 'NoSuchBucket') return 'Unknown';
  return classifyCode(err.code) ?? kindOfStatus(err.statusCode) ?? 'Unknown';
}
