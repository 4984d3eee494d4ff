import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  type BlobItem,
  BlobSASPermissions,
  BlobServiceClient,
  type ContainerClient,
  generateBlobSASQueryParameters,
  RestError,
  SASProtocol,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { StorageError, type StorageErrorKind } from '../errors';
import { countingStream, expiresAt, forEachLimit, kindOfStatus, normalize, toNodeReadable } from './common';
import type {
  ByteRange,
  Capabilities,
  MultipartUploads,
  ObjectInfo,
  PresignedUpload,
  StorageBackend,
  StoredPart,
} from './contract';

const TYPE = 'azure-blob';
const BLOCK_SIZE = 4 * 1024 * 1024;

export interface AzureBlobOptions {
  name: string;
  /** The storage account name. */
  accessKeyId: string;
  /** The storage account key (base64). */
  accessKeySecret: string;
  /** The container. */
  bucketName: string;
  /** Blob service URL; defaults to https://{account}.blob.core.windows.net */
  endPoint?: string;
  /** Base URL of the SAS URLs handed to clients (a CDN or custom domain in front of the account). */
  customDomain?: string;
  /** Attempts per request (the SDK's default is 4, with back-off). */
  maxTries?: number;
}

/** Azure Blob Storage: block blobs in one container, SAS URLs for direct upload and download. */
export class AzureBlobBackend implements StorageBackend {
  readonly type = TYPE;
  readonly name: string;
  readonly capabilities: Capabilities = {
    presignUpload: true,
    presignDownload: true,
    range: true,
    multipart: true,
    sealedParts: false,
  };
  private readonly credential: StorageSharedKeyCredential;
  readonly container: ContainerClient;
  readonly multipart: MultipartUploads;

  constructor(private readonly options: AzureBlobOptions) {
    this.name = options.name;
    this.credential = new StorageSharedKeyCredential(options.accessKeyId, options.accessKeySecret);
    const endpoint = options.endPoint ?? `https://${options.accessKeyId}.blob.core.windows.net`;
    this.container = new BlobServiceClient(endpoint, this.credential, {
      retryOptions: options.maxTries ? { maxTries: options.maxTries } : undefined,
    }).getContainerClient(options.bucketName);
    this.multipart = this.blockLists();
  }

  private fail(action: string, e: unknown): StorageError {
    return normalize(e, TYPE, this.name, action, classifyAzure);
  }

  async put(key: string, body: Readable | Buffer, options: { contentType: string; size?: number }) {
    const blob = this.container.getBlockBlobClient(key);
    const blobHTTPHeaders = { blobContentType: options.contentType };
    try {
      if (Buffer.isBuffer(body)) {
        const out = await blob.uploadData(body, { blobHTTPHeaders });
        return { key, size: body.length, etag: out.etag, lastModified: out.lastModified };
      }
      // Staged blocks, committed at the end: a reader never sees half an object.
      const { stream, counter } = countingStream(body);
      const out = await blob.uploadStream(stream, BLOCK_SIZE, 2, { blobHTTPHeaders });
      return { key, size: counter.bytes, etag: out.etag, lastModified: out.lastModified };
    } catch (e) {
      throw this.fail('put', e);
    }
  }

  async get(key: string, range?: ByteRange): Promise<{ body: Readable; info: ObjectInfo }> {
    try {
      const out = await this.container
        .getBlobClient(key)
        .download(range?.start ?? 0, range ? range.end - range.start + 1 : undefined);
      const total = out.contentRange ? Number(/\/(\d+)$/.exec(out.contentRange)?.[1]) : out.contentLength;
      return {
        body: toNodeReadable(out.readableStreamBody),
        info: { key, size: total ?? 0, lastModified: out.lastModified, etag: out.etag },
      };
    } catch (e) {
      throw this.fail('get', e);
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const p = await this.container.getBlobClient(key).getProperties();
      return { key, size: p.contentLength ?? 0, lastModified: p.lastModified, etag: p.etag };
    } catch (e) {
      const error = this.fail('head', e);
      if (error.kind === 'NotFound') return null;
      throw error;
    }
  }

  /**
   * Copy Blob (beginCopyFromURL) from the source blob's plain URL, polled until it is done. Within
   * one account the request's own Shared Key authorizes the source, so no SAS is needed; Azure
   * usually completes such a copy at once and the poll then sends nothing more. Copy Blob From URL
   * (syncCopyFromURL) was not chosen: it takes sources of at most 256 MiB and needs a SAS (or
   * OAuth) on the source even within the account. The target gets the source's properties
   * (content type included) and is an independent blob once the copy succeeded.
   */
  async copy(fromKey: string, toKey: string): Promise<ObjectInfo> {
    const target = this.container.getBlobClient(toKey);
    try {
      const poller = await target.beginCopyFromURL(this.container.getBlobClient(fromKey).url, {
        intervalInMs: 1000,
      });
      await poller.pollUntilDone();
      const p = await target.getProperties();
      return { key: toKey, size: p.contentLength ?? 0, lastModified: p.lastModified, etag: p.etag };
    } catch (e) {
      throw this.fail('copy', e);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.container.getBlobClient(key).deleteIfExists({ deleteSnapshots: 'include' });
    } catch (e) {
      throw this.fail('delete', e);
    }
  }

  /** Blob batch requests are not available everywhere (nor in Azurite): a few deletes at a time. */
  async deleteMany(keys: string[]): Promise<void> {
    await forEachLimit(keys, 8, (key) => this.delete(key));
  }

  async list(prefix: string, options: { cursor?: string; limit?: number } = {}) {
    try {
      const pages = this.container.listBlobsFlat({ prefix: prefix || undefined }).byPage({
        continuationToken: options.cursor || undefined,
        maxPageSize: Math.min(options.limit ?? 1000, 5000),
      });
      const page = (await pages.next()).value;
      const items: ObjectInfo[] = (page?.segment.blobItems ?? []).map((b: BlobItem) => ({
        key: b.name,
        size: b.properties.contentLength ?? 0,
        lastModified: b.properties.lastModified,
        etag: b.properties.etag,
      }));
      return { items, cursor: page?.continuationToken || undefined };
    } catch (e) {
      throw this.fail('list', e);
    }
  }

  private sasUrl(
    key: string,
    permissions: string,
    expiresIn: number,
    headers: { contentDisposition?: string; contentType?: string } = {},
  ): string {
    const now = Date.now();
    const sas = generateBlobSASQueryParameters(
      {
        containerName: this.options.bucketName,
        blobName: key,
        permissions: BlobSASPermissions.parse(permissions),
        // A little slack for clocks that run behind.
        startsOn: new Date(now - 5 * 60_000),
        expiresOn: new Date(now + expiresIn * 1000),
        protocol: this.container.url.startsWith('https:') ? SASProtocol.Https : SASProtocol.HttpsAndHttp,
        ...headers,
      },
      this.credential,
    ).toString();
    const blobUrl = new URL(this.container.getBlobClient(key).url);
    if (this.options.customDomain) {
      const custom = new URL(this.options.customDomain);
      blobUrl.protocol = custom.protocol;
      blobUrl.host = custom.host;
    }
    return `${blobUrl.toString()}?${sas}`;
  }

  /** A SAS URL for one PUT Blob. Azure cannot cap the size in a SAS: the service checks it on completion. */
  async presignUpload(
    key: string,
    options: { contentType: string; maxBytes: number; expiresIn: number },
  ): Promise<PresignedUpload> {
    const now = Date.now();
    return {
      method: 'PUT',
      url: this.sasUrl(key, 'cw', options.expiresIn),
      headers: { 'x-ms-blob-type': 'BlockBlob', 'content-type': options.contentType },
      expiresAt: expiresAt(options.expiresIn, now),
    };
  }

  async presignDownload(
    key: string,
    options: { expiresIn: number; disposition: string; contentType: string },
  ): Promise<string> {
    return this.sasUrl(key, 'r', options.expiresIn, {
      contentDisposition: options.disposition,
      contentType: options.contentType,
    });
  }

  /**
   * Multipart on Azure is a block list: each part is a Put Block to a SAS URL, complete commits the
   * list. The "upload id" only keeps block ids of different uploads apart. Azure wants every block
   * id of a blob to have the same length, before base64: 16 hex characters of upload id, a colon
   * and the part number in 5 digits, always 22 bytes (32 base64 characters). A Put Block answers no
   * ETag: a part's etag is its block id, which listParts reports; complete ignores etags given.
   * There is no upload object either: listParts of an unknown (or aborted) upload is [].
   */
  private blockLists(): MultipartUploads {
    const blockId = (uploadId: string, partNumber: number) =>
      Buffer.from(`${uploadId}:${String(partNumber).padStart(5, '0')}`).toString('base64');
    /** The inverse of blockId for the blocks of this upload; undefined for anything else. */
    const partOf = (uploadId: string, id: string): number | undefined => {
      const m = /^([0-9a-f]{16}):(\d{5})$/.exec(Buffer.from(id, 'base64').toString('latin1'));
      return m && m[1] === uploadId && Number(m[2]) >= 1 ? Number(m[2]) : undefined;
    };
    const listParts = async (key: string, uploadId: string): Promise<StoredPart[]> => {
      let blocks: { name: string; size: number }[];
      try {
        const out = await this.container.getBlockBlobClient(key).getBlockList('uncommitted');
        blocks = out.uncommittedBlocks ?? [];
      } catch (e) {
        const error = this.fail('multipart listParts', e);
        // No block staged and no blob: nothing sent yet.
        if (error.kind === 'NotFound') return [];
        throw error;
      }
      const parts = new Map<number, StoredPart>();
      for (const block of blocks) {
        const partNumber = partOf(uploadId, block.name);
        // A block sent again replaces the earlier one; the list is in the order they were sent.
        if (partNumber !== undefined)
          parts.set(partNumber, { partNumber, size: block.size, etag: block.name });
      }
      return [...parts.values()].sort((a, b) => a.partNumber - b.partNumber);
    };
    return {
      create: async () => ({ uploadId: randomBytes(8).toString('hex') }),
      presignPart: async (key, uploadId, partNumber, { expiresIn }) => {
        const url = new URL(this.sasUrl(key, 'w', expiresIn));
        url.searchParams.set('comp', 'block');
        url.searchParams.set('blockid', blockId(uploadId, partNumber));
        return { method: 'PUT', url: url.toString(), headers: {}, expiresAt: expiresAt(expiresIn) };
      },
      listParts,
      complete: async (key, uploadId, parts, { contentType }) => {
        // Azure would commit a block of another upload that has the same id, or refuse a missing
        // one with a bare InvalidBlockList: the parts are checked against the staged list first.
        const stored = new Map((await listParts(key, uploadId)).map((p) => [p.partNumber, p]));
        // Etags given are not compared: a Put Block answers none (Azurite's is not a part's), and a
        // block sent again under its fixed id simply replaces the earlier one.
        const wrong = parts.find((p) => !stored.has(p.partNumber));
        if (wrong)
          throw new StorageError(
            'InvalidPart',
            TYPE,
            this.name,
            `multipart complete failed: part ${wrong.partNumber} is not stored`,
          );
        try {
          const out = await this.container.getBlockBlobClient(key).commitBlockList(
            parts.map((p) => blockId(uploadId, p.partNumber)),
            { blobHTTPHeaders: { blobContentType: contentType } },
          );
          const info = await this.head(key);
          return info ?? { key, size: 0, etag: out.etag, lastModified: out.lastModified };
        } catch (e) {
          throw this.fail('multipart complete', e);
        }
      },
      /**
       * Uncommitted blocks cannot be deleted one by one, but committing a list drops every staged
       * block not in it: an empty list is committed, only where no blob exists yet (If-None-Match
       * *, so an existing object is never emptied), and the empty blob deleted. Where a blob does
       * exist at the key, the staged blocks stay until Azure drops them after a week. This drops the
       * staged blocks of every upload to the key: staging keys are one upload's own.
       */
      abort: async (key) => {
        const blob = this.container.getBlockBlobClient(key);
        try {
          const staged = await blob.getBlockList('uncommitted');
          if ((staged.uncommittedBlocks ?? []).length === 0) return;
          await blob.commitBlockList([], { conditions: { ifNoneMatch: '*' } });
          await blob.deleteIfExists();
        } catch (e) {
          const error = this.fail('multipart abort', e);
          // 409 BlobAlreadyExists: an object is there and is kept.
          if (error.kind !== 'Conflict' && error.kind !== 'NotFound') throw error;
        }
      },
    };
  }
}

function classifyAzure(e: unknown): StorageErrorKind {
  const err = e as { statusCode?: number; code?: string; details?: { errorCode?: string } };
  const code = err.details?.errorCode ?? err.code;
  switch (code) {
    case 'BlobNotFound':
      return 'NotFound';
    case 'InvalidBlockList':
      return 'InvalidPart';
    case 'ContainerNotFound':
      return 'Unknown';
    case 'AuthenticationFailed':
    case 'InvalidAuthenticationInfo':
      return 'InvalidCredentials';
    case 'AuthorizationFailure':
    case 'AuthorizationPermissionMismatch':
    case 'InsufficientAccountPermissions':
      return 'AccessDenied';
    case 'ServerBusy':
    case 'OperationTimedOut':
    case 'InternalError':
      return 'Unavailable';
    default:
      if (e instanceof RestError || err.statusCode) return kindOfStatus(err.statusCode) ?? 'Unknown';
      return 'Unknown';
  }
}
