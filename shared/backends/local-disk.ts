import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { pipeline as pipe, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StorageError } from '../errors';
import type { ByteRange, Capabilities, ObjectInfo, PresignedUpload, StorageBackend } from './contract';

const TYPE = 'local-disk';
const TEMP_DIR = '.tmp';

export interface LocalDiskOptions {
  name: string;
  root: string;
  /** Local disk has no native presign: the service signs its own upload URLs, which the local server accepts. */
  signingSecret: string;
  /** Where the local server listens, for the signed upload URLs. */
  publicBaseUrl?: string;
}

/** The route of the local server that accepts signed uploads. */
export const LOCAL_UPLOAD_PATH = '/_local/upload';

export class LocalDiskBackend implements StorageBackend {
  readonly type = TYPE;
  readonly name: string;
  readonly capabilities: Capabilities = {
    presignUpload: true,
    presignDownload: false,
    range: true,
    multipart: false,
  };
  private readonly root: string;

  constructor(private readonly options: LocalDiskOptions) {
    this.name = options.name;
    this.root = options.root;
  }

  /** Every key is checked before it becomes a file-system path: no "..", no absolute paths, no NUL or control characters. */
  private pathOf(key: string): string {
    const segments = key.split('/');
    const bad =
      key.length === 0 ||
      // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters
      /[\u0000-\u001f\u007f\\]/.test(key) ||
      segments.some(
        (s) => s === '' || s === '.' || s === '..' || s === TEMP_DIR || Buffer.byteLength(s) > 255,
      );
    if (bad) throw new StorageError('Unknown', TYPE, this.name, 'invalid key');
    return join(this.root, ...segments);
  }

  private notFound(key: string, cause?: unknown): StorageError {
    return new StorageError('NotFound', TYPE, this.name, `no object ${JSON.stringify(key)}`, { cause });
  }

  async put(
    key: string,
    body: Readable | Buffer,
    _options: { contentType: string; size?: number },
  ): Promise<ObjectInfo> {
    const target = this.pathOf(key);
    const tempDir = join(this.root, TEMP_DIR);
    const temp = join(tempDir, randomUUID());
    await mkdir(tempDir, { recursive: true });
    try {
      // Write to a temp file and rename: a reader never sees half a file, a failed upload leaves nothing.
      await pipeline(
        Buffer.isBuffer(body) ? Readable.from([body]) : body,
        createWriteStream(temp, { flags: 'wx', highWaterMark: 1024 * 1024 }),
      );
      await mkdir(dirname(target), { recursive: true });
      await rename(temp, target);
    } catch (e) {
      await rm(temp, { force: true });
      throw e;
    }
    return this.info(key, await stat(target));
  }

  private info(key: string, s: { size: number; mtime: Date }): ObjectInfo {
    return { key, size: s.size, lastModified: s.mtime };
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const s = await stat(this.pathOf(key));
      return s.isFile() ? this.info(key, s) : null;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR')
        return null;
      throw e;
    }
  }

  async get(key: string, range?: ByteRange): Promise<{ body: Readable; info: ObjectInfo }> {
    const info = await this.head(key);
    if (!info) throw this.notFound(key);
    const body = createReadStream(this.pathOf(key), range ? { start: range.start, end: range.end } : {});
    return { body, info };
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async deleteMany(keys: string[]): Promise<void> {
    await Promise.all(keys.map((k) => this.delete(k)));
  }

  async list(prefix: string, options: { cursor?: string; limit?: number } = {}) {
    const limit = options.limit ?? 1000;
    let names: string[];
    try {
      names = (await readdir(this.root, { recursive: true, withFileTypes: true }))
        .filter((d) => d.isFile())
        .map((d) =>
          join(d.parentPath ?? (d as unknown as { path: string }).path, d.name).slice(this.root.length + 1),
        )
        .map((p) => p.split(sep).join('/'))
        .filter(
          (k) =>
            !k.startsWith(`${TEMP_DIR}/`) && k.startsWith(prefix) && (!options.cursor || k > options.cursor),
        );
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { items: [] };
      throw e;
    }
    names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const page = names.slice(0, limit);
    const items = await Promise.all(page.map(async (k) => this.info(k, await stat(this.pathOf(k)))));
    return { items, cursor: names.length > limit ? page[page.length - 1] : undefined };
  }

  private sign(key: string, maxBytes: number, expires: number): string {
    return createHmac('sha256', this.options.signingSecret)
      .update(`local-upload\n${this.name}\n${key}\n${maxBytes}\n${expires}`)
      .digest('base64url');
  }

  async presignUpload(
    key: string,
    options: { contentType: string; maxBytes: number; expiresIn: number },
  ): Promise<PresignedUpload> {
    this.pathOf(key);
    if (!this.options.publicBaseUrl) {
      throw new StorageError(
        'Unavailable',
        TYPE,
        this.name,
        'PUBLIC_BASE_URL is not set, so no upload URL can be made',
      );
    }
    const expires = Math.floor(Date.now() / 1000) + options.expiresIn;
    const query = new URLSearchParams({
      storage: this.name,
      key,
      max: String(options.maxBytes),
      exp: String(expires),
      sig: this.sign(key, options.maxBytes, expires),
    });
    return {
      method: 'PUT',
      url: `${this.options.publicBaseUrl}${LOCAL_UPLOAD_PATH}?${query}`,
      headers: { 'content-type': options.contentType },
      expiresAt: new Date(expires * 1000).toISOString(),
    };
  }

  /**
   * Verifies a signed upload URL made by presignUpload and stores the body. Returns null when the
   * signature is wrong or expired; throws `tooLarge` when the body exceeds the signed maximum.
   */
  async acceptSignedUpload(
    query: URLSearchParams,
    body: Readable,
  ): Promise<'ok' | 'forbidden' | 'too-large'> {
    const key = query.get('key') ?? '';
    const max = Number(query.get('max'));
    const exp = Number(query.get('exp'));
    const given = Buffer.from(query.get('sig') ?? '');
    const expected = Buffer.from(this.sign(key, max, exp));
    const valid = given.length === expected.length && timingSafeEqual(given, expected);
    if (!valid || !Number.isFinite(exp) || exp * 1000 < Date.now()) return 'forbidden';
    let seen = 0;
    const limiter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        seen += chunk.length;
        done(seen > max ? new RangeError('too large') : null, chunk);
      },
    });
    try {
      // pipe() with a callback destroys every stream on error, so an aborted client fails the put.
      await this.put(
        key,
        pipe(body, limiter, () => {}),
        { contentType: 'application/octet-stream' },
      );
      return 'ok';
    } catch (e) {
      if (e instanceof RangeError) return 'too-large';
      throw e;
    }
  }

  async presignDownload(): Promise<string | null> {
    return null;
  }
}
