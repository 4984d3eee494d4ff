import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  type DeleteObjectsCommandOutput,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  type ListPartsCommandOutput,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { withoutSdkLogging } from '../aws-client';
import { StorageError, type StorageErrorKind } from '../errors';
import {
  chunks,
  countingStream,
  exactRange,
  expiresAt,
  kindOfStatus,
  MAX_COPY_BYTES,
  normalize,
  rangeHeader,
  signedPut,
  startFromContentRange,
  toNodeReadable,
  tooLargeToCopy,
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

const TYPE = 's3';
/** Bucket and key as CopySource wants them: URL-encoded (RFC 3986) segment by segment, slashes kept. */
const copySourceOf = (bucket: string, key: string) =>
  `${bucket}/${key
    .split('/')
    .map((s) =>
      encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`),
    )
    .join('/')}`;

export interface S3Options {
  name: string;
  bucketName: string;
  region: string;
  /** Omit for AWS; the URL of any S3-compatible store otherwise. */
  endPoint?: string;
  /** Omit both to use the default credential chain (the Lambda's role). */
  accessKeyId?: string;
  accessKeySecret?: string;
  /** Path-style URLs (`host/bucket/key`) instead of virtual-hosted (`bucket.host/key`). */
  pathStyle?: boolean;
  /** Host of presigned download URLs, e.g. a CNAME to the bucket. */
  customDomain?: string;
  /** WHEN_REQUIRED stops the SDK's default CRC32 checksums, which many S3-compatible stores reject. */
  checksum?: 'WHEN_SUPPORTED' | 'WHEN_REQUIRED';
  /** POST (a policy that enforces the size, the default) or PUT (simpler, no size limit). */
  uploadMethod?: 'POST' | 'PUT';
  /** The storage type reported (an S3-compatible adapter may reuse this class). */
  type?: string;
  /** Extra client settings (tests add middleware through this). */
  clientConfig?: Partial<S3ClientConfig>;
}

/** AWS S3 and S3-compatible stores through the AWS SDK v3. */
export class S3Backend implements StorageBackend {
  readonly type: string;
  readonly name: string;
  readonly capabilities: Capabilities = {
    presignUpload: true,
    presignDownload: true,
    range: true,
    multipart: true,
    sealedParts: true,
  };
  readonly client: S3Client;
  /** Signs upload URLs (and parts); the same client as `client` when it adds no checksums anyway. */
  readonly uploadSigner: S3Client;
  private readonly downloadSigner: S3Client;
  readonly multipart: MultipartUploads;
  private readonly bucket: string;

  constructor(private readonly options: S3Options) {
    this.type = options.type ?? TYPE;
    this.name = options.name;
    this.bucket = options.bucketName;
    const checksum = options.checksum ?? (options.endPoint ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED');
    const config: S3ClientConfig = {
      region: options.region,
      endpoint: options.endPoint,
      forcePathStyle: options.pathStyle ?? false,
      requestChecksumCalculation: checksum,
      responseChecksumValidation: checksum,
      credentials:
        options.accessKeyId && options.accessKeySecret
          ? { accessKeyId: options.accessKeyId, secretAccessKey: options.accessKeySecret }
          : undefined,
      ...options.clientConfig,
    };
    this.client = withoutSdkLogging(new S3Client(config));
    // Presigned requests are sent by browsers, which add no checksum: with the SDK's default
    // (WHEN_SUPPORTED) a presigned PUT would carry the CRC32 of an empty body and S3 would refuse it.
    const presignConfig: S3ClientConfig = {
      ...config,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    };
    this.uploadSigner =
      checksum === 'WHEN_REQUIRED' ? this.client : withoutSdkLogging(new S3Client(presignConfig));
    this.downloadSigner = options.customDomain
      ? withoutSdkLogging(
          new S3Client({
            ...presignConfig,
            endpoint: options.customDomain,
            forcePathStyle: false,
            bucketEndpoint: true,
          }),
        )
      : this.uploadSigner;
    this.multipart = this.multipartUploads();
  }

  private fail(action: string, e: unknown): StorageError {
    return normalize(e, this.type, this.name, action, classifyS3);
  }

  async put(key: string, body: Readable | Buffer, options: { contentType: string; size?: number }) {
    try {
      if (Buffer.isBuffer(body)) {
        const out = await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: body,
            ContentType: options.contentType,
          }),
        );
        return { key, size: body.length, etag: out.ETag };
      }
      // lib-storage sends one PutObject for small bodies and a multipart upload (5 MiB parts) for large ones.
      const { stream, counter } = countingStream(body);
      const out = await new Upload({
        client: this.client,
        params: { Bucket: this.bucket, Key: key, Body: stream, ContentType: options.contentType },
        queueSize: 2,
        leavePartsOnError: false,
      }).done();
      return { key, size: counter.bytes, etag: out.ETag };
    } catch (e) {
      throw this.fail('put', e);
    }
  }

  async get(key: string, range?: ByteRange): Promise<{ body: Readable; info: ObjectInfo }> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: range ? rangeHeader(range) : undefined,
        }),
      );
      const size = totalFromContentRange(out.ContentRange) ?? out.ContentLength ?? 0;
      const body = toNodeReadable(out.Body);
      return {
        body: range ? exactRange(body, startFromContentRange(out.ContentRange), range) : body,
        info: { key, size, lastModified: out.LastModified, etag: out.ETag },
      };
    } catch (e) {
      throw this.fail('get', e);
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { key, size: out.ContentLength ?? 0, lastModified: out.LastModified, etag: out.ETag };
    } catch (e) {
      const error = this.fail('head', e);
      if (error.kind === 'NotFound') return null;
      throw error;
    }
  }

  /**
   * CopyObject, after a HeadObject that tells a missing source (NotFound) and its size: one
   * CopyObject copies up to 5 GiB, and a larger source fails here with a clear error instead of
   * S3's InvalidRequest. The copy is bound to the ETag seen (CopySourceIfMatch), so the size
   * returned is the size of the bytes copied even when the source is overwritten meanwhile (then
   * the copy fails as a Conflict).
   */
  async copy(fromKey: string, toKey: string): Promise<ObjectInfo> {
    const source = await this.head(fromKey);
    if (!source)
      throw new StorageError('NotFound', this.type, this.name, `no object ${JSON.stringify(fromKey)}`);
    if (source.size > MAX_COPY_BYTES) throw tooLargeToCopy(this.type, this.name, source.size);
    try {
      const out = await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: toKey,
          CopySource: copySourceOf(this.bucket, fromKey),
          CopySourceIfMatch: source.etag,
          // The content type and metadata come with the object.
          MetadataDirective: 'COPY',
        }),
      );
      return {
        key: toKey,
        size: source.size,
        etag: out.CopyObjectResult?.ETag,
        lastModified: out.CopyObjectResult?.LastModified,
      };
    } catch (e) {
      throw this.fail('copy', e);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      // S3 answers 204 for a missing key too.
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (e) {
      const error = this.fail('delete', e);
      if (error.kind !== 'NotFound') throw error;
    }
  }

  async deleteMany(keys: string[]): Promise<void> {
    for (const batch of chunks(keys, 1000)) {
      let out: DeleteObjectsCommandOutput;
      try {
        out = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
        );
      } catch (e) {
        throw this.fail('deleteMany', e);
      }
      const failed = (out.Errors ?? []).filter((err) => err.Code !== 'NoSuchKey');
      if (failed.length) {
        const code = failed[0]?.Code ?? 'Unknown';
        throw new StorageError(
          classifyCode(code) ?? 'Unknown',
          this.type,
          this.name,
          `deleteMany failed for ${failed.length} of ${batch.length} keys (${code})`,
        );
      }
    }
  }

  async list(prefix: string, options: { cursor?: string; limit?: number } = {}) {
    try {
      const out = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix || undefined,
          MaxKeys: Math.min(options.limit ?? 1000, 1000),
          ContinuationToken: options.cursor || undefined,
        }),
      );
      const items: ObjectInfo[] = (out.Contents ?? []).map((o) => ({
        key: o.Key ?? '',
        size: o.Size ?? 0,
        lastModified: o.LastModified,
        etag: o.ETag,
      }));
      return { items, cursor: out.IsTruncated ? out.NextContinuationToken : undefined };
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
        const post = await createPresignedPost(this.uploadSigner, {
          Bucket: this.bucket,
          Key: key,
          Conditions: [
            ['content-length-range', 0, options.maxBytes],
            ['eq', '$Content-Type', options.contentType],
          ],
          Fields: { 'Content-Type': options.contentType },
          Expires: options.expiresIn,
        });
        return {
          method: 'POST',
          url: post.url,
          headers: {},
          fields: post.fields,
          expiresAt: expiresAt(options.expiresIn, now),
        };
      }
      const url = await getSignedUrl(
        this.uploadSigner,
        new PutObjectCommand({ Bucket: this.bucket, Key: key, ContentType: options.contentType }),
        { expiresIn: options.expiresIn },
      );
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
      return await getSignedUrl(
        this.downloadSigner,
        new GetObjectCommand({
          Bucket: this.options.customDomain ?? this.bucket,
          Key: key,
          ResponseContentDisposition: options.disposition,
          ResponseContentType: options.contentType,
        }),
        { expiresIn: options.expiresIn },
      );
    } catch (e) {
      throw this.fail('presignDownload', e);
    }
  }

  private multipartUploads(): MultipartUploads {
    const Bucket = this.bucket;
    return {
      create: async (Key, { contentType }) => {
        try {
          const out = await this.client.send(
            new CreateMultipartUploadCommand({ Bucket, Key, ContentType: contentType }),
          );
          return { uploadId: out.UploadId as string };
        } catch (e) {
          throw this.fail('multipart create', e);
        }
      },
      presignPart: async (Key, UploadId, PartNumber, { expiresIn }) => {
        const now = Date.now();
        try {
          const url = await getSignedUrl(
            this.uploadSigner,
            new UploadPartCommand({ Bucket, Key, UploadId, PartNumber }),
            { expiresIn },
          );
          return { method: 'PUT', url, headers: {}, expiresAt: expiresAt(expiresIn, now) };
        } catch (e) {
          throw this.fail('multipart presignPart', e);
        }
      },
      listParts: async (Key, UploadId) => {
        const parts: StoredPart[] = [];
        let marker: string | undefined;
        try {
          // One page holds at most 1000 parts, an upload up to 10 000.
          for (;;) {
            const out: ListPartsCommandOutput = await this.client.send(
              new ListPartsCommand({ Bucket, Key, UploadId, MaxParts: 1000, PartNumberMarker: marker }),
            );
            for (const p of out.Parts ?? []) {
              if (p.PartNumber === undefined) continue;
              parts.push({ partNumber: p.PartNumber, size: p.Size ?? 0, etag: p.ETag ?? '' });
            }
            const next = out.NextPartNumberMarker;
            if (!out.IsTruncated || !next || next === marker) break;
            marker = next;
          }
        } catch (e) {
          throw this.fail('multipart listParts', e);
        }
        return parts.sort((a, b) => a.partNumber - b.partNumber);
      },
      complete: async (Key, UploadId, parts) => {
        try {
          await this.client.send(
            new CompleteMultipartUploadCommand({
              Bucket,
              Key,
              UploadId,
              MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
            }),
          );
        } catch (e) {
          throw this.fail('multipart complete', e);
        }
        const info = await this.head(Key);
        if (!info)
          throw new StorageError('Unknown', this.type, this.name, 'multipart complete left no object');
        return info;
      },
      abort: async (Key, UploadId) => {
        try {
          await this.client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId }));
        } catch (e) {
          const error = this.fail('multipart abort', e);
          const name = (e as { name?: string }).name;
          if (error.kind !== 'NotFound' && name !== 'NoSuchUpload') throw error;
        }
      },
    };
  }

  destroy(): void {
    for (const c of new Set([this.client, this.uploadSigner, this.downloadSigner])) c.destroy();
  }
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
    case 'AllAccessDisabled':
    case 'AccountProblem':
      return 'AccessDenied';
    case 'InvalidAccessKeyId':
    case 'SignatureDoesNotMatch':
    case 'ExpiredToken':
    case 'InvalidToken':
    case 'TokenRefreshRequired':
    case 'CredentialsProviderError':
      return 'InvalidCredentials';
    case 'PreconditionFailed':
    case 'OperationAborted':
      return 'Conflict';
    case 'SlowDown':
    case 'ServiceUnavailable':
    case 'InternalError':
    case 'RequestTimeout':
      return 'Unavailable';
    default:
      return undefined;
  }
}

/** SDK v3 errors carry the S3 code as `name` and the status in `$metadata`. */
function classifyS3(e: unknown): StorageErrorKind {
  const err = e as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  // A missing bucket is a configuration problem, not a missing file.
  if (err.name === 'NoSuchBucket' || err.Code === 'NoSuchBucket') return 'Unknown';
  return (
    classifyCode(err.name) ??
    classifyCode(err.Code) ??
    kindOfStatus(err.$metadata?.httpStatusCode) ??
    'Unknown'
  );
}
