import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { constants, createReadStream, createWriteStream, type Dirent } from 'node:fs';
import { copyFile, link, lstat, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { pipeline as pipe, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StorageError } from '../errors';
import type { ByteRange, Capabilities, ObjectInfo, PresignedUpload, StorageBackend } from './contract';

const TYPE = 'local-disk';
const TEMP_DIR = '.tmp';
/** Why link() may fail where a copy still works: another file system, or one without hard links. */
const LINK_UNSUPPORTED = new Set(['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK']);

const errorCode = (e: unknown) => (e as NodeJS.ErrnoException).code;
const missing = (e: unknown) => errorCode(e) === 'ENOENT' || errorCode(e) === 'ENOTDIR';
const utf8Order = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

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
    if (!isValidKey(key)) throw new StorageError('Unknown', TYPE, this.name, 'invalid key');
    return join(this.root, ...key.split('/'));
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
      // Write to a temp file and rename: a reader never sees half a file, a failed upload leaves
      // nothing. Never write a stored file in place: copies share its inode (see copy).
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
      if (missing(e)) return null;
      throw e;
    }
  }

  async get(key: string, range?: ByteRange): Promise<{ body: Readable; info: ObjectInfo }> {
    const info = await this.head(key);
    if (!info) throw this.notFound(key);
    const body = createReadStream(this.pathOf(key), range ? { start: range.start, end: range.end } : {});
    return { body, info };
  }

  /**
   * A hard link: no bytes are copied. Every write is a temp file renamed over the key, so a later
   * put to the source replaces its directory entry, not the shared inode, and the copy keeps its
   * bytes (and the source's mtime as lastModified). Where links fail (another file system, or
   * none), the bytes are copied to a temp file and renamed into place.
   */
  async copy(fromKey: string, toKey: string): Promise<ObjectInfo> {
    const source = this.pathOf(fromKey);
    const target = this.pathOf(toKey);
    const info = await this.head(fromKey);
    if (!info) throw this.notFound(fromKey);
    if (source === target) return { ...info, key: toKey };
    try {
      await mkdir(dirname(target), { recursive: true });
      try {
        await link(source, target);
      } catch (e) {
        // An existing target is replaced in one rename, as put replaces it.
        if (errorCode(e) === 'EEXIST') await this.replaceWith(source, target, 'link');
        else if (LINK_UNSUPPORTED.has(errorCode(e) ?? '')) await this.replaceWith(source, target, 'copy');
        else throw e;
      }
    } catch (e) {
      if (missing(e) && !(await this.head(fromKey))) throw this.notFound(fromKey, e);
      throw e;
    }
    return this.info(toKey, await stat(target));
  }

  /** Puts the file at `source` at `target` through a temp file (a link, or a copy of the bytes) and a rename. */
  private async replaceWith(source: string, target: string, how: 'link' | 'copy'): Promise<void> {
    const tempDir = join(this.root, TEMP_DIR);
    const temp = join(tempDir, randomUUID());
    await mkdir(tempDir, { recursive: true });
    try {
      let linked = false;
      if (how === 'link') {
        try {
          await link(source, temp);
          linked = true;
        } catch (e) {
          if (!LINK_UNSUPPORTED.has(errorCode(e) ?? '')) throw e;
        }
      }
      if (!linked) await copyFile(source, temp, constants.COPYFILE_EXCL);
      await rename(temp, target);
    } finally {
      // Gone after the rename, except when target already was a link to the same file (rename then does nothing).
      await rm(temp, { force: true });
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async deleteMany(keys: string[]): Promise<void> {
    await Promise.all(keys.map((k) => this.delete(k)));
  }

  /**
   * Reads only the folder the prefix names ("a/b/c" reads root/a/b/, keeps the entries whose name
   * starts with "c" and walks those), so listing one tenant or the staging area does not read
   * every file of the root.
   */
  async list(prefix: string, options: { cursor?: string; limit?: number } = {}) {
    const limit = options.limit ?? 1000;
    const folder = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    const start = prefix.slice(folder.length);
    // No valid key lies under a folder that is no valid key itself ("..", control characters, ...).
    if (folder && !isValidKey(folder.slice(0, -1))) return { items: [] };
    const dir = folder ? join(this.root, ...folder.slice(0, -1).split('/')) : this.root;
    const keys: string[] = [];
    for (const entry of await readFolder(dir)) {
      if (!entry.name.startsWith(start) || (!folder && entry.name === TEMP_DIR)) continue;
      if (entry.isFile()) keys.push(`${folder}${entry.name}`);
      else if (entry.isDirectory()) {
        const below = join(dir, entry.name);
        for (const d of await readFolder(below, true)) {
          if (!d.isFile()) continue;
          const path = join(d.parentPath ?? (d as unknown as { path: string }).path, d.name);
          keys.push(`${folder}${entry.name}/${relative(below, path).split(sep).join('/')}`);
        }
      }
    }
    // Cursor and order compare UTF-8 bytes alike, as the cloud stores do.
    const after = options.cursor;
    const names = (after === undefined ? keys : keys.filter((k) => utf8Order(k, after) > 0)).sort(utf8Order);
    const page = names.slice(0, limit);
    const items = (
      await Promise.all(
        page.map(async (k) => {
          try {
            return this.info(k, await stat(this.pathOf(k)));
          } catch (e) {
            // Deleted since the folder was read.
            if (missing(e)) return undefined;
            throw e;
          }
        }),
      )
    ).filter((i): i is ObjectInfo => i !== undefined);
    return { items, cursor: names.length > limit ? page[page.length - 1] : undefined };
  }

  /**
   * Deletes the temp files of puts and copies that died, last written before `olderThan`, and
   * says how many. A put in progress keeps writing its temp file, so its mtime stays fresh. A temp
   * file that is a link to a stored object (a copy about to be renamed into place) holds no bytes
   * of its own and is kept; once that object is gone, it is an ordinary stale file.
   */
  async removeStaleTemp(olderThan: Date): Promise<number> {
    const tempDir = join(this.root, TEMP_DIR);
    let removed = 0;
    for (const entry of await readFolder(tempDir)) {
      const path = join(tempDir, entry.name);
      let s: Awaited<ReturnType<typeof lstat>>;
      try {
        s = await lstat(path);
      } catch (e) {
        if (missing(e)) continue;
        throw e;
      }
      if (!s.isFile() || s.nlink > 1 || s.mtimeMs >= olderThan.getTime()) continue;
      await rm(path, { force: true });
      removed++;
    }
    return removed;
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

function isValidKey(key: string): boolean {
  return !(
    key.length === 0 ||
    // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters
    /[\u0000-\u001f\u007f\\]/.test(key) ||
    key
      .split('/')
      .some((s) => s === '' || s === '.' || s === '..' || s === TEMP_DIR || Buffer.byteLength(s) > 255)
  );
}

/** The entries of a folder (with everything below it when `recursive`); none when it does not exist. */
async function readFolder(dir: string, recursive = false): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true, recursive });
  } catch (e) {
    if (missing(e)) return [];
    throw e;
  }
}
