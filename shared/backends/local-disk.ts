import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { close, constants, createReadStream, type Dirent, open as fsOpen, fstat } from 'node:fs';
import {
  copyFile,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { pipeline as pipe, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { StorageError } from '../errors';
import type {
  ByteRange,
  Capabilities,
  MultipartUploads,
  ObjectInfo,
  PresignedUpload,
  StorageBackend,
  StoredPart,
  UploadedPart,
} from './contract';

const TYPE = 'local-disk';
const TEMP_DIR = '.tmp';
const READ_CHUNK_BYTES = 1024 * 1024;
/**
 * The parts of multipart uploads, one folder per upload inside the temp folder: no key can name
 * it (no key holds a ".tmp" segment) and list() never walks it.
 */
const PARTS_DIR = 'parts';
const MANIFEST = 'manifest.json';
/** The largest part a signed part URL takes, as S3's limit. */
export const MAX_PART_BYTES = 5 * 1024 ** 3;
const MAX_PARTS = 10_000;
const UPLOAD_ID = /^[0-9a-f]{32}$/;
/** A stored part is `{partNumber}.{md5 hex}`: its name carries its etag. */
const PART_FILE = /^(\d{1,5})\.([0-9a-f]{32})$/;
/** Why link() may fail where a copy still works: another file system, or one without hard links. */
const LINK_UNSUPPORTED = new Set(['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK']);

/**
 * Reads open a numeric descriptor, not a FileHandle: a FileHandle per small read is tracked by the
 * garbage collector and closed through a promise, which made a 1 KiB download's p99 about twice
 * as slow (a read stream closes a numeric descriptor itself when it ends or is destroyed).
 */
const openFile = promisify(fsOpen);
const fstatFile = promisify(fstat);
const closeFile = promisify(close);

const errorCode = (e: unknown) => (e as NodeJS.ErrnoException).code;
const missing = (e: unknown) => errorCode(e) === 'ENOENT' || errorCode(e) === 'ENOTDIR';

/** Renames a written temp file to its key's path, making the key's folders only when they are missing. */
async function moveInto(temp: string, target: string): Promise<void> {
  try {
    await rename(temp, target);
  } catch (e) {
    if (errorCode(e) !== 'ENOENT') throw e;
    await mkdir(dirname(target), { recursive: true });
    await rename(temp, target);
  }
}
const utf8Order = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

export interface LocalDiskOptions {
  name: string;
  root: string;
  /** Local disk has no native presign: the service signs its own upload URLs, which the local server accepts. */
  signingSecret: string;
  /** Where the local server listens, for the signed upload URLs. */
  publicBaseUrl?: string;
  /** The largest part a signed part URL takes (MAX_PART_BYTES, 5 GiB, unless a test shrinks it). */
  maxPartBytes?: number;
}

/** The route of the local server that accepts signed uploads (and parts of multipart uploads). */
export const LOCAL_UPLOAD_PATH = '/_local/upload';

/** What became of a PUT to a signed URL; not-found: the multipart upload of a part URL is gone. */
export type SignedUploadOutcome = 'ok' | 'forbidden' | 'too-large' | 'not-found';

export class LocalDiskBackend implements StorageBackend {
  readonly type = TYPE;
  readonly name: string;
  readonly capabilities: Capabilities = {
    presignUpload: true,
    presignDownload: false,
    range: true,
    multipart: true,
    sealedParts: true,
  };
  readonly multipart: MultipartUploads;
  private readonly root: string;

  constructor(private readonly options: LocalDiskOptions) {
    this.name = options.name;
    this.root = options.root;
    this.multipart = this.multipartUploads();
  }

  /** Every key is checked before it becomes a file-system path: no "..", no absolute paths, no NUL or control characters. */
  private pathOf(key: string): string {
    if (!isValidKey(key)) throw new StorageError('Unknown', TYPE, this.name, 'invalid key');
    return join(this.root, ...key.split('/'));
  }

  localPath(key: string): string {
    return this.pathOf(key);
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
    // Write to a temp file and rename: a reader never sees half a file, a failed upload leaves
    // nothing. Never write a stored file in place: copies share its inode (see copy).
    const temp = await this.writeTemp(Buffer.isBuffer(body) ? Readable.from([body]) : body);
    try {
      await moveInto(temp, target);
    } catch (e) {
      await rm(temp, { force: true });
      throw e;
    }
    return this.info(key, await stat(target));
  }

  /**
   * Streams `source` (through `through`) into a new file in the temp folder and returns its path.
   * When the write fails, the file goes only after its stream has closed: pipeline() rejects as
   * soon as the body fails, possibly before the file's open has completed, and a file opened
   * after the rm would stay.
   */
  private async writeTemp(source: Readable, ...through: Transform[]): Promise<string> {
    const tempDir = join(this.root, TEMP_DIR);
    const temp = join(tempDir, randomUUID());
    // Opened before any byte is read (a failed body then always finds the file to remove), and the
    // folder made only when it is missing: once per process, not once per object.
    const handle = await open(temp, 'wx').catch(async (e: unknown) => {
      if (!missing(e)) throw e;
      await mkdir(tempDir, { recursive: true });
      return open(temp, 'wx');
    });
    const file = handle.createWriteStream({ highWaterMark: 1024 * 1024 });
    try {
      await pipeline([source, ...through, file]);
    } catch (e) {
      if (!file.closed) await new Promise<void>((resolve) => file.once('close', () => resolve()));
      await rm(temp, { force: true });
      throw e;
    }
    return temp;
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

  /**
   * The file is opened here and the body reads that open file: its size (from the same descriptor)
   * and bytes stay those of the object get found, even if the key is replaced or deleted before the
   * body is read (a path opened later could be a newer file, of another length).
   */
  async get(key: string, range?: ByteRange): Promise<{ body: Readable; info: ObjectInfo }> {
    const fd = await openFile(this.pathOf(key), 'r').catch((e: unknown) => {
      throw missing(e) ? this.notFound(key, e) : e;
    });
    try {
      const s = await fstatFile(fd);
      if (!s.isFile()) throw this.notFound(key);
      // 1 MiB reads, not the default 64 KiB: a large download makes 16x fewer reads and socket writes.
      // The end is always given: a reader (the local server's sendFile) then knows the length.
      const end = range ? range.end : s.size - 1;
      const body = createReadStream('', {
        fd,
        highWaterMark: READ_CHUNK_BYTES,
        start: range?.start ?? 0,
        ...(end >= 0 ? { end } : {}),
      });
      return { body, info: this.info(key, s) };
    } catch (e) {
      await closeFile(fd);
      throw e;
    }
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

  /** The local server's upload route, which signed URLs point at. */
  private uploadBase(): string {
    if (!this.options.publicBaseUrl) {
      throw new StorageError(
        'Unavailable',
        TYPE,
        this.name,
        'PUBLIC_BASE_URL is not set, so no upload URL can be made',
      );
    }
    return `${this.options.publicBaseUrl}${LOCAL_UPLOAD_PATH}`;
  }

  async presignUpload(
    key: string,
    options: { contentType: string; maxBytes: number; expiresIn: number },
  ): Promise<PresignedUpload> {
    this.pathOf(key);
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
      url: `${this.uploadBase()}?${query}`,
      headers: { 'content-type': options.contentType },
      expiresAt: new Date(expires * 1000).toISOString(),
    };
  }

  /**
   * Verifies a signed URL made by presignUpload (or multipart.presignPart) and stores the body:
   * 'forbidden' when the signature is wrong or expired, 'too-large' when the body exceeds the
   * signed maximum, 'not-found' when a part's multipart upload is gone (aborted or completed).
   */
  async acceptSignedUpload(query: URLSearchParams, body: Readable): Promise<SignedUploadOutcome> {
    return (await this.acceptSigned(query, body)).outcome;
  }

  /** As acceptSignedUpload, with the ETag of a stored part (the quoted md5 of its bytes, as S3 answers). */
  async acceptSigned(
    query: URLSearchParams,
    body: Readable,
  ): Promise<{ outcome: SignedUploadOutcome; etag?: string }> {
    const key = query.get('key') ?? '';
    const max = Number(query.get('max'));
    const exp = Number(query.get('exp'));
    const uploadId = query.get('upload');
    const partNumber = Number(query.get('part'));
    const given = Buffer.from(query.get('sig') ?? '');
    const expected = Buffer.from(
      uploadId === null ? this.sign(key, max, exp) : this.signPart(key, uploadId, partNumber, max, exp),
    );
    const valid = given.length === expected.length && timingSafeEqual(given, expected);
    if (!valid || !Number.isFinite(exp) || exp * 1000 < Date.now()) return { outcome: 'forbidden' };
    let seen = 0;
    const limiter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        seen += chunk.length;
        done(seen > max ? new RangeError('too large') : null, chunk);
      },
    });
    // pipe() with a callback destroys every stream on error, so an aborted client fails the put.
    const limited = pipe(body, limiter, () => {});
    try {
      if (uploadId === null) {
        await this.put(key, limited, { contentType: 'application/octet-stream' });
        return { outcome: 'ok' };
      }
      const etag = await this.putPart(key, uploadId, partNumber, limited);
      return etag === undefined ? { outcome: 'not-found' } : { outcome: 'ok', etag };
    } catch (e) {
      if (e instanceof RangeError) return { outcome: 'too-large' };
      throw e;
    }
  }

  private signPart(key: string, uploadId: string, partNumber: number, maxBytes: number, expires: number) {
    return createHmac('sha256', this.options.signingSecret)
      .update(`local-part\n${this.name}\n${key}\n${uploadId}\n${partNumber}\n${maxBytes}\n${expires}`)
      .digest('base64url');
  }

  private partsDir(uploadId: string): string {
    return join(this.root, TEMP_DIR, PARTS_DIR, uploadId);
  }

  private noUpload(uploadId: string): StorageError {
    return new StorageError('NotFound', TYPE, this.name, `no multipart upload ${JSON.stringify(uploadId)}`);
  }

  /** The folder of the upload when it exists for this key; undefined otherwise. */
  private async uploadOf(
    key: string,
    uploadId: string,
  ): Promise<{ dir: string; contentType: string } | undefined> {
    if (!UPLOAD_ID.test(uploadId)) return undefined;
    const dir = this.partsDir(uploadId);
    let manifest: { key?: unknown; contentType?: unknown };
    try {
      manifest = JSON.parse(await readFile(join(dir, MANIFEST), 'utf8'));
    } catch (e) {
      if (missing(e)) return undefined;
      throw e;
    }
    if (manifest.key !== key) return undefined;
    return { dir, contentType: String(manifest.contentType ?? 'application/octet-stream') };
  }

  /**
   * The stored files of an upload's parts, by part number; a part sent again has a new file and,
   * for a moment, the old one too: the newest counts, and complete takes the one its etag names.
   */
  private async partFiles(
    dir: string,
  ): Promise<Map<number, { file: string; etag: string; size: number; mtimeMs: number }[]>> {
    const files = new Map<number, { file: string; etag: string; size: number; mtimeMs: number }[]>();
    for (const entry of await readFolder(dir)) {
      const m = PART_FILE.exec(entry.name);
      if (!m || !entry.isFile()) continue;
      let s: Awaited<ReturnType<typeof stat>>;
      try {
        s = await stat(join(dir, entry.name));
      } catch (e) {
        if (missing(e)) continue;
        throw e;
      }
      const n = Number(m[1]);
      const list = files.get(n) ?? [];
      list.push({ file: join(dir, entry.name), etag: `"${m[2]}"`, size: s.size, mtimeMs: s.mtimeMs });
      files.set(
        n,
        list.sort((a, b) => b.mtimeMs - a.mtimeMs || (a.file < b.file ? -1 : 1)),
      );
    }
    return files;
  }

  /**
   * Writes one part to a temp file, hashing it on the way, and renames it into the upload's folder
   * as `{partNumber}.{md5}`; an earlier file of the same part is removed after. Returns its etag,
   * or undefined when the upload does not exist (the folder is never created here).
   */
  private async putPart(key: string, uploadId: string, partNumber: number, body: Readable) {
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PARTS) return undefined;
    const upload = await this.uploadOf(key, uploadId);
    if (!upload) return undefined;
    const md5 = createHash('md5');
    const temp = await this.writeTemp(
      body,
      new Transform({
        transform(chunk: Buffer, _enc, done) {
          md5.update(chunk);
          done(null, chunk);
        },
      }),
    );
    try {
      const digest = md5.digest('hex');
      const name = `${partNumber}.${digest}`;
      try {
        await rename(temp, join(upload.dir, name));
      } catch (e) {
        // Aborted (or completed) while the part arrived.
        if (missing(e)) return undefined;
        throw e;
      }
      const mine = await stat(join(upload.dir, name));
      for (const older of (await this.partFiles(upload.dir)).get(partNumber) ?? []) {
        if (older.file !== join(upload.dir, name) && older.mtimeMs <= mine.mtimeMs)
          await rm(older.file, { force: true });
      }
      return `"${digest}"`;
    } finally {
      await rm(temp, { force: true });
    }
  }

  /**
   * Multipart uploads on local disk: the parts are files in `.tmp/parts/{uploadId}/` beside a
   * manifest of key and content type, sent to signed part URLs of the local server, joined in
   * order into the key by complete. Parts may have any size up to MAX_PART_BYTES.
   */
  private multipartUploads(): MultipartUploads {
    return {
      create: async (key, { contentType }) => {
        this.pathOf(key);
        const uploadId = randomBytes(16).toString('hex');
        const dir = this.partsDir(uploadId);
        await mkdir(dir, { recursive: true });
        // Written and renamed: an upload is either there with its manifest or not there.
        const temp = join(dir, `${MANIFEST}.${randomUUID()}`);
        await writeFile(temp, JSON.stringify({ key, contentType }), { flag: 'wx' });
        await rename(temp, join(dir, MANIFEST));
        return { uploadId };
      },
      presignPart: async (key, uploadId, partNumber, { expiresIn }) => {
        this.pathOf(key);
        if (!UPLOAD_ID.test(uploadId)) throw this.noUpload(uploadId);
        if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PARTS)
          throw new StorageError('Unknown', TYPE, this.name, `invalid part number ${partNumber}`);
        const expires = Math.floor(Date.now() / 1000) + expiresIn;
        const max = this.options.maxPartBytes ?? MAX_PART_BYTES;
        const query = new URLSearchParams({
          storage: this.name,
          key,
          upload: uploadId,
          part: String(partNumber),
          max: String(max),
          exp: String(expires),
          sig: this.signPart(key, uploadId, partNumber, max, expires),
        });
        return {
          method: 'PUT',
          url: `${this.uploadBase()}?${query}`,
          headers: {},
          expiresAt: new Date(expires * 1000).toISOString(),
        };
      },
      listParts: async (key, uploadId): Promise<StoredPart[]> => {
        const upload = await this.uploadOf(key, uploadId);
        if (!upload) throw this.noUpload(uploadId);
        return [...(await this.partFiles(upload.dir)).entries()]
          .map(([partNumber, files]) => {
            const newest = files[0] as { etag: string; size: number };
            return { partNumber, size: newest.size, etag: newest.etag };
          })
          .sort((a, b) => a.partNumber - b.partNumber);
      },
      complete: async (key, uploadId, parts: UploadedPart[]) => {
        const target = this.pathOf(key);
        const upload = await this.uploadOf(key, uploadId);
        if (!upload) throw this.noUpload(uploadId);
        const invalid = (message: string) =>
          new StorageError('InvalidPart', TYPE, this.name, `multipart complete failed: ${message}`);
        if (parts.length === 0) throw invalid('no parts given');
        const stored = await this.partFiles(upload.dir);
        const chosen = parts.map((p, i) => {
          if (i > 0 && p.partNumber <= (parts[i - 1] as UploadedPart).partNumber)
            throw invalid('the parts are not in ascending order');
          const files = stored.get(p.partNumber) ?? [];
          if (files.length === 0) throw invalid(`part ${p.partNumber} is not stored`);
          const etag = p.etag === undefined ? undefined : `"${p.etag.replace(/"/g, '').toLowerCase()}"`;
          const file = etag === undefined ? files[0] : files.find((f) => f.etag === etag);
          if (!file) throw invalid(`part ${p.partNumber} is not stored with that etag`);
          return file.file;
        });
        // The parts one after the other, streamed: a large upload is never held in memory.
        const joined = async function* () {
          for (const file of chosen) yield* createReadStream(file, { highWaterMark: 1024 * 1024 });
        };
        let temp: string | undefined;
        try {
          temp = await this.writeTemp(Readable.from(joined()));
          await mkdir(dirname(target), { recursive: true });
          await rename(temp, target);
        } catch (e) {
          if (temp) await rm(temp, { force: true });
          if (missing(e)) {
            if (!(await this.uploadOf(key, uploadId))) throw this.noUpload(uploadId);
            // The part file chosen was replaced by the same part sent again meanwhile.
            throw invalid('a part was sent again while completing');
          }
          throw e;
        }
        await rm(upload.dir, { recursive: true, force: true, maxRetries: 3 });
        return this.info(key, await stat(target));
      },
      abort: async (key, uploadId) => {
        const upload = await this.uploadOf(key, uploadId);
        if (upload) await rm(upload.dir, { recursive: true, force: true, maxRetries: 3 });
      },
    };
  }

  /**
   * Deletes the folders of multipart uploads that nothing was written to since `olderThan` (no
   * part, no manifest), and says how many. Meant for uploads abandoned without an abort; the age
   * should be longer than an upload session lives.
   */
  async removeStaleParts(olderThan: Date): Promise<number> {
    const partsRoot = join(this.root, TEMP_DIR, PARTS_DIR);
    let removed = 0;
    for (const entry of await readFolder(partsRoot)) {
      if (!entry.isDirectory()) continue;
      const dir = join(partsRoot, entry.name);
      let newest = 0;
      try {
        newest = (await stat(dir)).mtimeMs;
        for (const file of await readFolder(dir)) {
          newest = Math.max(
            newest,
            (await lstat(join(dir, file.name)).catch(() => ({ mtimeMs: 0 }))).mtimeMs,
          );
        }
      } catch (e) {
        if (missing(e)) continue;
        throw e;
      }
      if (newest >= olderThan.getTime()) continue;
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
      removed++;
    }
    return removed;
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
