import type { Readable } from 'node:stream';
import type {
  ByteRange,
  Capabilities,
  MultipartUploads,
  ObjectInfo,
  PresignedUpload,
  StorageBackend,
  UploadedPart,
} from './contract';

/**
 * A backend whose adapter module is loaded on first use. Every Lambda bundles all adapters, but
 * an SDK that a deployment never calls (Azure, MinIO, OSS, ...) is then never evaluated: a cold
 * start pays only for the storage types it touches.
 */
export class LazyBackend implements StorageBackend {
  readonly multipart?: MultipartUploads;
  private loading?: Promise<StorageBackend>;

  constructor(
    readonly type: string,
    readonly name: string,
    readonly capabilities: Capabilities,
    private readonly load: () => Promise<StorageBackend>,
  ) {
    if (capabilities.multipart) {
      const multipart = async () => {
        const parts = (await this.backend()).multipart;
        if (!parts) throw new Error(`${type} ${name} has no multipart uploads`);
        return parts;
      };
      this.multipart = {
        create: async (key, options) => (await multipart()).create(key, options),
        presignPart: async (key, uploadId, partNumber, options) =>
          (await multipart()).presignPart(key, uploadId, partNumber, options),
        listParts: async (key, uploadId) => (await multipart()).listParts(key, uploadId),
        complete: async (key, uploadId, parts: UploadedPart[], options) =>
          (await multipart()).complete(key, uploadId, parts, options),
        abort: async (key, uploadId) => (await multipart()).abort(key, uploadId),
      };
    }
  }

  /** The adapter itself, loaded once; a failed load is tried again on the next call. */
  backend(): Promise<StorageBackend> {
    this.loading ??= this.load().catch((e) => {
      this.loading = undefined;
      throw e;
    });
    return this.loading;
  }

  async put(key: string, body: Readable | Buffer, options: { contentType: string; size?: number }) {
    return (await this.backend()).put(key, body, options);
  }

  async get(key: string, range?: ByteRange): Promise<{ body: Readable; info: ObjectInfo }> {
    return (await this.backend()).get(key, range);
  }

  async head(key: string): Promise<ObjectInfo | null> {
    return (await this.backend()).head(key);
  }

  async copy(fromKey: string, toKey: string): Promise<ObjectInfo> {
    return (await this.backend()).copy(fromKey, toKey);
  }

  async delete(key: string): Promise<void> {
    return (await this.backend()).delete(key);
  }

  async deleteMany(keys: string[]): Promise<void> {
    return (await this.backend()).deleteMany(keys);
  }

  async list(prefix: string, options?: { cursor?: string; limit?: number }) {
    return (await this.backend()).list(prefix, options);
  }

  async presignUpload(
    key: string,
    options: { contentType: string; maxBytes: number; expiresIn: number },
  ): Promise<PresignedUpload> {
    return (await this.backend()).presignUpload(key, options);
  }

  async presignDownload(
    key: string,
    options: { expiresIn: number; disposition: string; contentType: string },
  ): Promise<string | null> {
    return (await this.backend()).presignDownload(key, options);
  }
}
