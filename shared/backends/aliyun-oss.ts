import type { Readable } from 'node:stream';
import OSS from 'ali-oss';
import type { StorageError, StorageErrorKind } from '../errors';
import {
  chunks,
  countingStream,
  exactRange,
  expiresAt,
  kindOfStatus,
  normalize,
  rangeHeader,
  signedPut,
  startFromContentRange,
  totalFromContentRange,
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

const TYPE = 'aliyun-oss';

export interface AliyunOssOptions {
  name: string;
  /** e.g. oss-cn-hangzhou */
  region: string;
  bucketName: string;
  accessKeyId: string;
  accessKeySecret: string;
  /** Defaults to https://{region}.aliyuncs.com; the bucket goes in front of the host (virtual-hosted style). */
  endPoint?: string;
  /** endPoint is a domain bound to the bucket (CNAME): the bucket is not added to the host. */
  cname?: boolean;
  /** Domain bound to the bucket, used for the URLs handed to clients (presigned upload and download). */
  customDomain?: string;
  /** OSS signature version: v4 (OSS4-HMAC-SHA256, the default) or v1 (HMAC-SHA1). */
  signatureVersion?: 'v1' | 'v4';
  /** Request timeout in milliseconds (ali-oss applies it to whole transfers). */
  timeoutMs?: number;
}

interface OssResponse {
  status: number;
  headers: Record<string, string | undefined>;
}

/** Aliyun (Alibaba Cloud) OSS through ali-oss. */
export class AliyunOssBackend implements StorageBackend {
  readonly type = TYPE;
  readonly name: string;
  readonly capabilities: Capabilities = {
    presignUpload: true,
    presignDownload: true,
    range: true,
    multipart: true,
    sealedParts: true,
  };
  readonly client: OSS;
  readonly multipart: MultipartUploads;
  private readonly presignClient: OSS;
  private readonly v4: boolean;

  constructor(options: AliyunOssOptions) {
    this.name = options.name;
    this.v4 = (options.signatureVersion ?? 'v4') === 'v4';
    const endpoint = options.endPoint ?? `https://${options.region}.aliyuncs.com`;
    const base: OSS.Options = {
      region: options.region,
      bucket: options.bucketName,
      accessKeyId: options.accessKeyId,
      accessKeySecret: options.accessKeySecret,
      authorizationV4: this.v4,
      timeout: options.timeoutMs ?? 10 * 60_000,
    };
    this.client = new OSS({
      ...base,
      endpoint,
      secure: endpoint.startsWith('https:'),
      cname: options.cname ?? false,
    });
    this.presignClient = options.customDomain
      ? new OSS({
          ...base,
          endpoint: options.customDomain,
          secure: options.customDomain.startsWith('https:'),
          cname: true,
        })
      : this.client;
    this.multipart = this.multipartUploads();
  }

  private fail(action: string, e: unknown): StorageError {
    return normalize(e, TYPE, this.name, action, classifyOss);
  }

  async put(key: string, body: Readable | Buffer, options: { contentType: string; size?: number }) {
    const headers = { 'Content-Type': options.contentType };
    try {
      if (Buffer.isBuffer(body)) {
        const out = await this.client.put(key, body, { headers, mime: options.contentType });
        return { key, size: body.length, etag: headerOf(out.res, 'etag') };
      }
      // One PUT with a chunked body: the bytes stream through, OSS stores them atomically.
      const { stream, counter } = countingStream(body);
      const out = await this.client.putStream(key, stream, {
        headers,
        mime: options.contentType,
        ...(options.size !== undefined ? { contentLength: options.size } : {}),
      } as OSS.PutStreamOptions);
      return { key, size: counter.bytes, etag: headerOf(out.res, 'etag') };
    } catch (e) {
      throw this.fail('put', e);
    }
  }

  async get(key: string, range?: ByteRange): Promise<{ body: Readable; info: ObjectInfo }> {
    try {
      const out = await this.client.getStream(key, range ? { headers: { Range: rangeHeader(range) } } : {});
      const res = out.res as unknown as OssResponse;
      const size =
        totalFromContentRange(headerOf(res, 'content-range')) ?? Number(headerOf(res, 'content-length') ?? 0);
      const body = out.stream as Readable;
      return {
        body: range ? exactRange(body, startFromContentRange(headerOf(res, 'content-range')), range) : body,
        info: infoOf(key, res, size),
      };
    } catch (e) {
      throw this.fail('get', e);
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const out = await this.client.head(key);
      const res = out.res as unknown as OssResponse;
      return infoOf(key, res, Number(headerOf(res, 'content-length') ?? 0));
    } catch (e) {
      const error = this.fail('head', e);
      if (error.kind === 'NotFound') return null;
      throw error;
    }
  }

  /**
   * CopyObject (a PUT with x-oss-copy-source) within the bucket; the target keeps the source's
   * content type (no metadata directive means COPY). Its size is read back from the target, which
   * no one else writes. OSS copies up to 5 GB this way and answers a larger source with its own
   * error (UploadPartCopy would be needed).
   */
  async copy(fromKey: string, toKey: string): Promise<ObjectInfo> {
    try {
      await this.client.copy(toKey, fromKey);
      const out = await this.client.head(toKey);
      const res = out.res as unknown as OssResponse;
      return infoOf(toKey, res, Number(headerOf(res, 'content-length') ?? 0));
    } catch (e) {
      throw this.fail('copy', e);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      // OSS answers 204 for a missing key too.
      await this.client.delete(key);
    } catch (e) {
      const error = this.fail('delete', e);
      if (error.kind !== 'NotFound') throw error;
    }
  }

  async deleteMany(keys: string[]): Promise<void> {
    for (const batch of chunks(keys, 1000)) {
      try {
        await this.client.deleteMulti(batch, { quiet: true });
      } catch (e) {
        throw this.fail('deleteMany', e);
      }
    }
  }

  async list(prefix: string, options: { cursor?: string; limit?: number } = {}) {
    try {
      const out = await this.client.listV2(
        {
          // An empty prefix is left out: OSS V4 signs an empty parameter as its bare name.
          ...(prefix ? { prefix } : {}),
          'max-keys': String(Math.min(options.limit ?? 1000, 1000)),
          ...(options.cursor ? { 'continuation-token': options.cursor } : {}),
        },
        {},
      );
      const items: ObjectInfo[] = (out.objects ?? []).map((o) => ({
        key: o.name,
        size: o.size,
        lastModified: o.lastModified ? new Date(o.lastModified) : undefined,
        etag: o.etag,
      }));
      return { items, cursor: out.isTruncated ? out.nextContinuationToken || undefined : undefined };
    } catch (e) {
      throw this.fail('list', e);
    }
  }

  /** A signed PUT: OSS has POST policies too, but a signed PUT is what browsers and curl send most simply. */
  async presignUpload(
    key: string,
    options: { contentType: string; maxBytes: number; expiresIn: number },
  ): Promise<PresignedUpload> {
    const now = Date.now();
    try {
      const url = this.v4
        ? await this.presignClient.signatureUrlV4(
            'PUT',
            options.expiresIn,
            { headers: { 'Content-Type': options.contentType } },
            key,
          )
        : this.presignClient.signatureUrl(key, {
            method: 'PUT',
            expires: options.expiresIn,
            'Content-Type': options.contentType,
          });
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
      if (this.v4) {
        return await this.presignClient.signatureUrlV4(
          'GET',
          options.expiresIn,
          {
            headers: {},
            queries: {
              'response-content-disposition': options.disposition,
              'response-content-type': options.contentType,
            },
          },
          key,
        );
      }
      return this.presignClient.signatureUrl(key, {
        expires: options.expiresIn,
        response: { 'content-disposition': options.disposition, 'content-type': options.contentType },
      });
    } catch (e) {
      throw this.fail('presignDownload', e);
    }
  }

  private multipartUploads(): MultipartUploads {
    return {
      create: async (key, { contentType }) => {
        try {
          const out = await this.client.initMultipartUpload(key, {
            mime: contentType,
            headers: { 'Content-Type': contentType },
          } as OSS.InitMultipartUploadOptions);
          return { uploadId: out.uploadId };
        } catch (e) {
          throw this.fail('multipart create', e);
        }
      },
      presignPart: async (key, uploadId, partNumber, { expiresIn }) => {
        const now = Date.now();
        try {
          const subResource = { partNumber: String(partNumber), uploadId };
          const url = this.v4
            ? await this.presignClient.signatureUrlV4(
                'PUT',
                expiresIn,
                { headers: {}, queries: subResource },
                key,
              )
            : this.presignClient.signatureUrl(key, { method: 'PUT', expires: expiresIn, subResource });
          return { method: 'PUT', url, headers: {}, expiresAt: expiresAt(expiresIn, now) };
        } catch (e) {
          throw this.fail('multipart presignPart', e);
        }
      },
      listParts: async (key, uploadId) => {
        const parts: StoredPart[] = [];
        let marker = 0;
        try {
          // One page holds at most 1000 parts, an upload up to 10 000.
          for (;;) {
            const out = await this.client.listParts(key, uploadId, {
              'max-parts': 1000,
              ...(marker ? { 'part-number-marker': marker } : {}),
            } as OSS.ListPartsQuery);
            // ali-oss hands the XML on as parsed: strings, and one <Part> is an object, not a list.
            const page = ([] as unknown[]).concat(out.parts ?? []) as {
              PartNumber: string;
              Size: string;
              ETag: string;
            }[];
            for (const p of page)
              parts.push({ partNumber: Number(p.PartNumber), size: Number(p.Size), etag: p.ETag });
            const next = Number(out.nextPartNumberMarker);
            if (String(out.isTruncated) !== 'true' || !next || next <= marker) break;
            marker = next;
          }
        } catch (e) {
          throw this.fail('multipart listParts', e);
        }
        return parts.sort((a, b) => a.partNumber - b.partNumber);
      },
      complete: async (key, uploadId, parts) => {
        try {
          await this.client.completeMultipartUpload(
            key,
            uploadId,
            parts.map((p) => ({ number: p.partNumber, etag: p.etag ?? '' })),
          );
        } catch (e) {
          throw this.fail('multipart complete', e);
        }
        const info = await this.head(key);
        if (!info) throw this.fail('multipart complete', new Error('no object after complete'));
        return info;
      },
      abort: async (key, uploadId) => {
        try {
          await this.client.abortMultipartUpload(key, uploadId);
        } catch (e) {
          const error = this.fail('multipart abort', e);
          if (error.kind !== 'NotFound' && (e as { code?: string }).code !== 'NoSuchUpload') throw error;
        }
      },
    };
  }
}

function headerOf(res: unknown, name: string): string | undefined {
  const headers = (res as OssResponse | undefined)?.headers ?? {};
  const value = headers[name] ?? headers[name.toLowerCase()];
  return value === undefined ? undefined : String(value);
}

function infoOf(key: string, res: OssResponse, size: number): ObjectInfo {
  const modified = headerOf(res, 'last-modified');
  return { key, size, etag: headerOf(res, 'etag'), lastModified: modified ? new Date(modified) : undefined };
}

function classifyOss(e: unknown): StorageErrorKind {
  const err = e as { code?: string; status?: number; name?: string };
  if (err.status === -1 || err.status === -2) return 'Unavailable';
  switch (err.code) {
    case 'NoSuchKey':
    case 'NoSuchUpload':
      return 'NotFound';
    case 'InvalidPart':
    case 'InvalidPartOrder':
    case 'EntityTooSmall':
      return 'InvalidPart';
    case 'NoSuchBucket':
      return 'Unknown';
    case 'InvalidAccessKeyId':
    case 'SignatureDoesNotMatch':
    case 'SecurityTokenExpired':
    case 'InvalidSecurityToken':
      return 'InvalidCredentials';
    case 'AccessDenied':
      return 'AccessDenied';
    case 'PreconditionFailed':
    case 'FileAlreadyExists':
      return 'Conflict';
    case 'InternalError':
    case 'ServiceUnavailable':
    case 'RequestTimeout':
      return 'Unavailable';
    default:
      return kindOfStatus(err.status) ?? 'Unknown';
  }
}
