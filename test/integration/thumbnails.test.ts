import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetConfig } from '../../shared/config';
import { parseThumbnailSpec, type ThumbnailSpec } from '../../shared/images/thumbnail-spec';
import { getFileRecord } from '../../shared/metadata/files';
import type { FileRecord } from '../../shared/metadata/items';
import { auditTenant } from '../../shared/service/audit';
import { backgroundSettled } from '../../shared/service/background';
import { createLink } from '../../shared/service/links';
import { deleteFile } from '../../shared/service/remove';
import { sweepExpired } from '../../shared/service/sweep';
import { openThumbnail, renderEagerThumbnails, type Thumbnail } from '../../shared/service/thumbnails';
import { principal, setupTestEnv, type TestEnv } from '../helpers/env';
import { fileAt, violations } from '../helpers/invariants';
import { failure, storedFiles, upload } from '../helpers/service-helpers';

/**
 * previewThumbnail through the service on local disk: what is rendered (checked by decoding the
 * answer with sharp, not by the service's code), what is refused and with which code, what is
 * cached and under which key, and that a file's thumbnails go with it (delete, replace, expiry),
 * checked against the integrity oracle.
 */
let env: TestEnv;
const T = 'thumbs';
const alice = principal(T);
const MAX_SOURCE = 3 * 1024 * 1024;

beforeAll(async () => {
  env = await setupTestEnv({
    THUMBNAIL_MAX_SOURCE_BYTES: String(MAX_SOURCE),
    THUMBNAIL_MAX_PIXELS: String(20_000_000),
    THUMBNAIL_MAX_VARIANTS: '4',
    THUMBNAIL_EAGER_SIZES: '120x120,64x32',
  });
});
afterAll(async () => {
  await env?.cleanup();
});

const root = () => join(env.root, 'default');
const spec = (query: Record<string, string> = {}): ThumbnailSpec => parseThumbnailSpec(query);
const thumbnailFiles = () => storedFiles(root()).filter((f) => f.startsWith('_thumbs/'));

/** A photo-like JPEG: gradients and noise, not a flat colour. */
async function photo(width: number, height: number, options: { orientation?: number } = {}) {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const noise = ((x * 7919 + y * 104729) >>> 3) & 31;
      raw[i] = (x * 255) / width + noise;
      raw[i + 1] = (y * 255) / height;
      raw[i + 2] = 128 + noise;
    }
  }
  let image = sharp(raw, { raw: { width, height, channels: 3 } });
  if (options.orientation) image = image.withMetadata({ orientation: options.orientation });
  return image.jpeg({ quality: 90 }).toBuffer();
}

const solid = (width: number, height: number, colour: string) =>
  sharp({ create: { width, height, channels: 4, background: colour } });

async function store(path: string, bytes: Buffer, contentType: string, extra = {}): Promise<FileRecord> {
  return upload(alice, path, bytes, { contentType, visibility: 'public', ...extra });
}

async function thumbnail(
  path: string,
  query: Record<string, string> = {},
  headers: { accept?: string } = {},
): Promise<Thumbnail> {
  return openThumbnail({ access: { tenant: T, path }, spec: spec(query), ...headers });
}

/** The bytes a thumbnail answer carries (rendered now, or read from the cache). */
async function bytesOf(t: Thumbnail): Promise<Buffer> {
  if (t.from === 'render') return t.bytes;
  const chunks: Buffer[] = [];
  for await (const c of (await t.backend.get(t.key)).body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function imageOf(t: Thumbnail) {
  const bytes = await bytesOf(t);
  return { bytes, meta: await sharp(bytes).metadata() };
}

describe('thumbnails: what is rendered', () => {
  it('defaults to 120 x 120, cover; WebP where Accept allows it, else JPEG for a JPEG and PNG for a PNG', async () => {
    await store('r/photo.jpg', await photo(800, 600), 'image/jpeg');
    await store('r/logo.png', await solid(300, 200, '#ff000080').png().toBuffer(), 'image/png');
    const webp = await imageOf(await thumbnail('r/photo.jpg', {}, { accept: 'image/avif,image/webp,*/*' }));
    expect(webp.meta).toMatchObject({ format: 'webp', width: 120, height: 120 });
    const jpeg = await imageOf(await thumbnail('r/photo.jpg', {}, { accept: '*/*' }));
    expect(jpeg.meta).toMatchObject({ format: 'jpeg', width: 120, height: 120 });
    const png = await imageOf(await thumbnail('r/logo.png'));
    expect(png.meta).toMatchObject({ format: 'png', width: 120, height: 120, hasAlpha: true });
    // q=0 refuses a type.
    expect(
      (await imageOf(await thumbnail('r/photo.jpg', {}, { accept: 'image/webp;q=0' }))).meta.format,
    ).toBe('jpeg');
    // Explicit formats win over Accept; origin keeps the source's.
    expect((await imageOf(await thumbnail('r/photo.jpg', { format: 'avif' }))).meta.format).toBe('heif');
    expect((await imageOf(await thumbnail('r/photo.jpg', { format: 'png' }))).meta.format).toBe('png');
    const origin = await thumbnail('r/logo.png', { format: 'origin' }, { accept: 'image/webp' });
    expect((await imageOf(origin)).meta.format).toBe('png');
    expect(origin).toMatchObject({ contentType: 'image/png', negotiated: false });
  });

  it('fits: cover and fill give the exact size, contain pads to it, inside stays within it', async () => {
    await store('r/wide.jpg', await photo(400, 100), 'image/jpeg');
    const size = async (fit: string) =>
      (await imageOf(await thumbnail('r/wide.jpg', { width: '100', height: '100', fit, format: 'png' })))
        .meta;
    expect(await size('cover')).toMatchObject({ width: 100, height: 100 });
    expect(await size('fill')).toMatchObject({ width: 100, height: 100 });
    expect(await size('contain')).toMatchObject({ width: 100, height: 100 });
    expect(await size('inside')).toMatchObject({ width: 100, height: 25 });
    const q20 = await bytesOf(
      await thumbnail('r/wide.jpg', { width: '300', height: '100', format: 'jpeg', quality: '20' }),
    );
    const q95 = await bytesOf(
      await thumbnail('r/wide.jpg', { width: '300', height: '100', format: 'jpeg', quality: '95' }),
    );
    expect(q20.length).toBeLessThan(q95.length);
  });

  it('applies the EXIF orientation and strips every metadata block', async () => {
    // Stored 200 wide and 100 high, shown rotated 90 degrees (orientation 6): 100 wide, 200 high.
    await store('r/rotated.jpg', await photo(200, 100, { orientation: 6 }), 'image/jpeg');
    expect(
      (await sharp(readFileSync(join(root(), (await fileAt(T, 'r/rotated.jpg'))?.key as string))).metadata())
        .orientation,
    ).toBe(6);
    const { meta } = await imageOf(
      await thumbnail('r/rotated.jpg', { width: '100', height: '100', fit: 'inside', format: 'jpeg' }),
    );
    expect(meta).toMatchObject({ width: 50, height: 100 });
    expect(meta.orientation).toBeUndefined();
    expect(meta.exif).toBeUndefined();
    expect(meta.icc).toBeUndefined();
    expect(meta.xmp).toBeUndefined();
  });

  it('an animated GIF or WebP gives its first frame', async () => {
    // Two frames of 20 x 20: red, then blue.
    const raw = Buffer.alloc(20 * 40 * 3);
    for (let i = 0; i < raw.length; i += 3) raw.set(i < raw.length / 2 ? [255, 0, 0] : [0, 0, 255], i);
    const frames = () => sharp(raw, { raw: { width: 20, height: 40, channels: 3, pageHeight: 20 } });
    const gif = await frames().gif().toBuffer();
    const webp = await frames().webp({ lossless: true }).toBuffer();
    expect((await sharp(gif, { animated: true }).metadata()).pages).toBe(2);
    await store('r/anim.gif', gif, 'image/gif');
    await store('r/anim.webp', webp, 'image/webp');
    for (const path of ['r/anim.gif', 'r/anim.webp']) {
      const { bytes, meta } = await imageOf(
        await thumbnail(path, { width: '10', height: '10', format: 'png' }),
      );
      expect(meta.pages ?? 1, path).toBe(1);
      expect(meta).toMatchObject({ width: 10, height: 10 });
      const { data } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
      expect([data[0], data[2]], path).toEqual([255, 0]);
    }
  });
});

describe('thumbnails: what is refused', () => {
  it('bad parameters are 400 with their own codes', () => {
    const code = (query: Record<string, string>) => {
      try {
        parseThumbnailSpec(query);
        return 'ok';
      } catch (e) {
        return `${(e as { status: number }).status} ${(e as { code: string }).code}`;
      }
    };
    expect(code({ width: '0' })).toBe('400 INVALID_THUMBNAIL_SIZE');
    expect(code({ height: '2049' })).toBe('400 INVALID_THUMBNAIL_SIZE');
    expect(code({ width: '12.5' })).toBe('400 INVALID_THUMBNAIL_SIZE');
    expect(code({ width: '-1' })).toBe('400 INVALID_THUMBNAIL_SIZE');
    expect(code({ width: 'abc' })).toBe('400 INVALID_THUMBNAIL_SIZE');
    expect(code({ fit: 'stretch' })).toBe('400 INVALID_THUMBNAIL_FIT');
    expect(code({ format: 'bmp' })).toBe('400 INVALID_THUMBNAIL_FORMAT');
    expect(code({ quality: '19' })).toBe('400 INVALID_THUMBNAIL_QUALITY');
    expect(code({ quality: '101' })).toBe('400 INVALID_THUMBNAIL_QUALITY');
    expect(code({ width: '2048', height: '1', fit: 'inside', format: 'origin', quality: '100' })).toBe('ok');
  });

  it('a file that is no image is 415, whatever its declared type; a private file without a link is 404', async () => {
    await store('x/notes.txt', Buffer.from('just text'), 'text/plain');
    await store('x/fake.png', Buffer.from('not a png at all'), 'image/png');
    await store('x/doc.pdf', Buffer.from('%PDF-1.4\n%%EOF\n'), 'application/pdf');
    for (const path of ['x/notes.txt', 'x/fake.png', 'x/doc.pdf']) {
      expect(await failure(thumbnail(path)), path).toBe('415 UNSUPPORTED_IMAGE');
    }
    await upload(alice, 'x/private.jpg', await photo(50, 50), { contentType: 'image/jpeg' });
    expect(await failure(thumbnail('x/private.jpg'))).toBe('404 NOT_FOUND');
    expect(await failure(thumbnail('x/missing.jpg'))).toBe('404 NOT_FOUND');
  });

  it('SVG is refused (415) before anything parses it: a reference to another host is never fetched', async () => {
    let fetched = 0;
    const peer = createServer((_req, res) => {
      fetched++;
      res.end();
    });
    await new Promise<void>((r) => peer.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(peer.address() as AddressInfo).port}/pixel.png`;
    const svg = `<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="100" height="100"><image href="${url}" xlink:href="${url}" width="100" height="100"/><rect width="50" height="50" fill="red"/></svg>`;
    try {
      await store('x/drawing.svg', Buffer.from(svg), 'image/svg+xml');
      expect(await failure(thumbnail('x/drawing.svg'))).toBe('415 UNSUPPORTED_IMAGE');
      expect(await failure(thumbnail('x/drawing.svg', { format: 'png' }))).toBe('415 UNSUPPORTED_IMAGE');
      await new Promise((r) => setTimeout(r, 200));
      expect(fetched).toBe(0);
    } finally {
      peer.close();
    }
  });

  it('HEIC is 415 where libvips has no HEVC decoder (as sharp ships it); AVIF renders', async () => {
    // An HEIF container with the HEVC brand: what an iPhone writes, minus the pixels.
    const ftyp = Buffer.concat([
      Buffer.from([0, 0, 0, 0x18]),
      Buffer.from('ftypheic'),
      Buffer.from([0, 0, 0, 0]),
      Buffer.from('mif1heic'),
    ]);
    await store('x/phone.heic', Buffer.concat([ftyp, Buffer.alloc(2000, 7)]), 'image/heic');
    expect(await failure(thumbnail('x/phone.heic'))).toBe('415 UNSUPPORTED_IMAGE');
    await store(
      'x/pic.avif',
      await sharp(await photo(64, 64))
        .avif()
        .toBuffer(),
      'image/avif',
    );
    expect((await imageOf(await thumbnail('x/pic.avif', { format: 'png' }))).meta).toMatchObject({
      width: 120,
      height: 120,
    });
  });

  it('a corrupt or truncated image is 422 INVALID_IMAGE; the file stays', async () => {
    const good = await photo(400, 300);
    await store('x/truncated.jpg', good.subarray(0, Math.floor(good.length / 2)), 'image/jpeg');
    await store(
      'x/garbage.jpg',
      Buffer.concat([good.subarray(0, 200), Buffer.alloc(5000, 0x5a)]),
      'image/jpeg',
    );
    expect(await failure(thumbnail('x/truncated.jpg'))).toBe('422 INVALID_IMAGE');
    expect(await failure(thumbnail('x/garbage.jpg'))).toBe('422 INVALID_IMAGE');
    expect(await getFileRecord(T, 'storages.Default', 'x/truncated.jpg')).toBeDefined();
  });

  it('a source over THUMBNAIL_MAX_SOURCE_BYTES is 413 IMAGE_TOO_LARGE, over THUMBNAIL_MAX_PIXELS 422, both before any decode', async () => {
    const big = Buffer.concat([await photo(64, 64), Buffer.alloc(MAX_SOURCE)]);
    await store('x/big.jpg', big, 'image/jpeg');
    expect(await failure(thumbnail('x/big.jpg'))).toBe('413 IMAGE_TOO_LARGE');
    // 25 MP of one colour: a small file, a large image.
    await store('x/huge.png', await solid(5000, 5000, '#00ff00').png().toBuffer(), 'image/png');
    expect(await failure(thumbnail('x/huge.png'))).toBe('422 IMAGE_TOO_MANY_PIXELS');
  });

  it('a render past THUMBNAIL_TIMEOUT_SECONDS is stopped: 422 IMAGE_RENDER_TIMEOUT', async () => {
    // 49 MP of noise as a progressive JPEG at quality 100 (its entropy decoding is the work), to
    // the largest WebP, on one libvips thread (as on a small Lambda): over 2 s here unbounded.
    const w = 7000;
    const h = 7000;
    const raw = Buffer.alloc(w * h * 3);
    for (let i = 0; i < raw.length; i += 4) raw.writeUInt32LE((i * 2654435761) >>> 0, i);
    const jpeg = await sharp(raw, { raw: { width: w, height: h, channels: 3 } })
      .jpeg({ quality: 100, progressive: true })
      .toBuffer();
    const limits = {
      THUMBNAIL_MAX_SOURCE_BYTES: String(jpeg.length),
      THUMBNAIL_MAX_PIXELS: String(w * h),
      MAX_API_UPLOAD_BYTES: String(jpeg.length),
    };
    env.reconfigure({ THUMBNAIL_TIMEOUT_SECONDS: '1', ...limits });
    const threads = sharp.concurrency();
    sharp.concurrency(1);
    try {
      await store('x/noise.jpg', jpeg, 'image/jpeg');
      const started = Date.now();
      expect(
        await failure(
          thumbnail('x/noise.jpg', { width: '2048', height: '2048', format: 'webp', quality: '100' }),
        ),
      ).toBe('422 IMAGE_RENDER_TIMEOUT');
      expect(Date.now() - started).toBeLessThan(20_000);
    } finally {
      sharp.concurrency(threads);
      env.reconfigure({
        THUMBNAIL_TIMEOUT_SECONDS: undefined,
        THUMBNAIL_MAX_SOURCE_BYTES: String(MAX_SOURCE),
        THUMBNAIL_MAX_PIXELS: String(20_000_000),
        MAX_API_UPLOAD_BYTES: undefined,
      });
    }
  });
});

describe('thumbnails: the cache', () => {
  it('a render is kept under the file id and its normalized parameters, then served from there', async () => {
    const record = await store('c/photo.jpg', await photo(640, 480), 'image/jpeg');
    const first = await thumbnail('c/photo.jpg', { width: '200', height: '150' }, { accept: 'image/webp' });
    expect(first.from).toBe('render');
    const key = `_thumbs/${T}/${record.id.slice(0, 2)}/${record.id}/200x150-cover-q80.webp`;
    expect(thumbnailFiles()).toContain(key);
    // The same request spelled differently is the same variant: served from the stored object.
    writeFileSync(join(root(), key), Buffer.from('the cached bytes'));
    const again = await thumbnail(
      'c/photo.jpg',
      { height: '150', width: '200', fit: 'cover', quality: '80', format: 'auto' },
      { accept: 'text/html, image/webp' },
    );
    expect(again).toMatchObject({ from: 'cache', etag: first.etag, contentType: 'image/webp' });
    expect((await bytesOf(again)).toString()).toBe('the cached bytes');
    // Another Accept is another variant (and another ETag).
    const jpeg = await thumbnail('c/photo.jpg', { width: '200', height: '150' }, { accept: '*/*' });
    expect(jpeg.etag).not.toBe(first.etag);
    expect(jpeg.contentType).toBe('image/jpeg');
    expect(await violations(T, { settled: false })).toEqual([]);
  });

  it('at most THUMBNAIL_MAX_VARIANTS are kept per file: random sizes are answered, not stored', async () => {
    const record = await store('c/many.jpg', await photo(300, 300), 'image/jpeg');
    for (let size = 10; size < 20; size++) {
      const t = await thumbnail('c/many.jpg', { width: String(size), height: String(size), format: 'jpeg' });
      expect((await imageOf(t)).meta.width).toBe(size);
    }
    const kept = thumbnailFiles().filter((f) => f.includes(record.id));
    expect(kept).toHaveLength(4);
    expect((await getFileRecord(T, 'storages.Default', 'c/many.jpg'))?.thumbnails).toHaveLength(4);
    // A kept size is still served from the cache.
    const first = await thumbnail('c/many.jpg', { width: '10', height: '10', format: 'jpeg' });
    expect(first.from).toBe('cache');
  });

  it("an overwrite never serves the old file's thumbnail; delete and replace remove them", async () => {
    const v1 = await store('c/swap.png', await solid(100, 100, '#ff0000').png().toBuffer(), 'image/png');
    const red = await imageOf(await thumbnail('c/swap.png', { width: '8', height: '8' }));
    expect(thumbnailFiles().filter((f) => f.includes(v1.id))).toHaveLength(1);
    const v2 = await store('c/swap.png', await solid(100, 100, '#0000ff').png().toBuffer(), 'image/png');
    // The replaced file's thumbnail is gone with it; the new one renders the new bytes.
    expect(thumbnailFiles().filter((f) => f.includes(v1.id))).toEqual([]);
    const blue = await imageOf(await thumbnail('c/swap.png', { width: '8', height: '8' }));
    expect(blue.bytes.equals(red.bytes)).toBe(false);
    const { data } = await sharp(blue.bytes).raw().toBuffer({ resolveWithObject: true });
    expect([data[0], data[2]]).toEqual([0, 255]);
    await deleteFile(T, undefined, 'c/swap.png');
    expect(thumbnailFiles().filter((f) => f.includes(v2.id))).toEqual([]);
    expect(await violations(T, { settled: false })).toEqual([]);
  });

  it('an expired file answers 404 and its thumbnails go, at access and by the sweeper', async () => {
    const atAccess = await store('c/soon.jpg', await photo(100, 100), 'image/jpeg', { expires: 1 });
    const bySweeper = await store('c/later.jpg', await photo(100, 100), 'image/jpeg', { expires: 1 });
    await thumbnail('c/soon.jpg');
    await thumbnail('c/later.jpg');
    expect(thumbnailFiles().filter((f) => f.includes(atAccess.id) || f.includes(bySweeper.id))).toHaveLength(
      2,
    );
    await new Promise((r) => setTimeout(r, 1100));
    expect(await failure(thumbnail('c/soon.jpg'))).toBe('404 NOT_FOUND');
    expect(thumbnailFiles().filter((f) => f.includes(atAccess.id))).toEqual([]);
    const sweep = await sweepExpired({ deadline: Date.now() + 20_000 });
    expect(sweep.files).toBeGreaterThanOrEqual(1);
    expect(thumbnailFiles().filter((f) => f.includes(bySweeper.id))).toEqual([]);
    expect(await fileAt(T, 'c/later.jpg')).toBeUndefined();
  });

  it('a thumbnail written after its file was removed (a render racing the delete) is deleted again by the sweeper', async () => {
    const record = await store('c/race.jpg', await photo(100, 100), 'image/jpeg');
    await thumbnail('c/race.jpg');
    const key = `_thumbs/${T}/${record.id.slice(0, 2)}/${record.id}/120x120-cover-q80.jpeg`;
    const bytes = readFileSync(join(root(), key));
    await deleteFile(T, undefined, 'c/race.jpg');
    expect(existsSync(join(root(), key))).toBe(false);
    // The render that reserved the variant before the delete lands its write afterwards.
    writeFileSync(join(root(), key), bytes);
    // Its garbage item outlives the first delete; once no render can still be writing, the sweeper settles it.
    expect(await violations(T, { settled: false })).toEqual([]);
    await sweepExpired({ deadline: Date.now() + 20_000 });
    expect(existsSync(join(root(), key))).toBe(true);
    await sweepExpired({ now: Date.now() + 11 * 60_000, deadline: Date.now() + 20_000 });
    expect(existsSync(join(root(), key))).toBe(false);
    expect(await violations(T, { settled: true })).toEqual([]);
  });

  it('a variant reserved after a remover read the file goes with it too (the removal reads again)', async () => {
    const record = await store('c/late.jpg', await photo(100, 100), 'image/jpeg');
    const stale = (await getFileRecord(T, 'storages.Default', 'c/late.jpg')) as FileRecord;
    await thumbnail('c/late.jpg', { width: '30', height: '30' });
    const { removeFile } = await import('../../shared/service/remove');
    expect(await removeFile(stale, 'deleted')).toBe(true);
    expect(thumbnailFiles().filter((f) => f.includes(record.id))).toEqual([]);
    expect(await violations(T, { settled: false })).toEqual([]);
  });

  it('where the process outlives the answer (BACKGROUND_THUMBNAILS), a miss is answered first and kept after it; a file removed meanwhile keeps nothing', async () => {
    process.env.BACKGROUND_THUMBNAILS = 'true';
    resetConfig();
    try {
      const record = await store('c/later-kept.jpg', await photo(200, 100), 'image/jpeg');
      const miss = await thumbnail('c/later-kept.jpg', { width: '40', height: '20' });
      expect(miss.from).toBe('render');
      // Answered first: checked before this test yields, while the keeping still waits on its
      // reservation (a DynamoDB round trip), so the variant cannot be on the disk yet.
      expect(thumbnailFiles().filter((f) => f.includes(record.id))).toEqual([]);
      await backgroundSettled();
      const kept = await getFileRecord(T, 'storages.Default', 'c/later-kept.jpg');
      expect(kept?.thumbnailsReady).toEqual(['40x20-cover-q80.jpeg']);
      expect(thumbnailFiles().filter((f) => f.includes(record.id))).toHaveLength(1);
      const hit = await thumbnail('c/later-kept.jpg', { width: '40', height: '20' });
      expect(hit.from).toBe('cache');
      expect((await bytesOf(hit)).equals(await bytesOf(miss))).toBe(true);

      // Deleted between the answer and the keeping: the reservation finds another file (none).
      const gone = await store('c/gone-first.jpg', await photo(200, 100), 'image/jpeg');
      await thumbnail('c/gone-first.jpg', { width: '40', height: '20' });
      await deleteFile(T, undefined, 'c/gone-first.jpg');
      await backgroundSettled();
      expect(thumbnailFiles().filter((f) => f.includes(gone.id))).toEqual([]);
      expect(await violations(T, { settled: false })).toEqual([]);
    } finally {
      delete process.env.BACKGROUND_THUMBNAILS;
      resetConfig();
    }
  });

  it("the audit counts a file's thumbnails as its own and finds one that nothing owns", async () => {
    const record = await store('c/audited.jpg', await photo(100, 100), 'image/jpeg');
    await thumbnail('c/audited.jpg');
    const orphan = `_thumbs/${T}/ab/${'ab'.padEnd(32, '0')}/120x120-cover-q80.jpeg`;
    await (await import('node:fs/promises')).mkdir(join(root(), orphan, '..'), { recursive: true });
    writeFileSync(join(root(), orphan), 'left by a crash');
    const findings = await auditTenant(T, { repair: true, deadline: Date.now() + 20_000, minAgeMs: 0 });
    const orphans = findings.filter((f) => f.kind === 'orphan-object').map((f) => f.subject);
    expect(orphans).toContain(orphan);
    expect(orphans.filter((k) => k.includes(record.id))).toEqual([]);
    expect(existsSync(join(root(), orphan))).toBe(false);
    expect(thumbnailFiles().filter((f) => f.includes(record.id))).toHaveLength(1);
  });
});

describe('thumbnails: links and eager sizes', () => {
  it('a link opens a private file for exactly the parameters it signs', async () => {
    await upload(alice, 'l/secret.jpg', await photo(200, 200), { contentType: 'image/jpeg' });
    const thumbnailSpec = spec({ width: '64', height: '48', fit: 'contain', format: 'png' });
    const link = new URL(
      (
        await createLink({
          tenant: T,
          path: 'l/secret.jpg',
          disposition: 'inline',
          thumbnail: thumbnailSpec,
          baseUrl: 'http://localhost:3000',
        })
      ).url,
    );
    expect(link.pathname).toBe(`/v1/thumbnails/${T}/l/secret.jpg`);
    const query = Object.fromEntries(link.searchParams);
    const open = (q: Record<string, string>) =>
      openThumbnail({
        access: { tenant: T, path: 'l/secret.jpg', expires: q.expires, kid: q.kid, signature: q.signature },
        spec: spec({
          width: q.width,
          height: q.height,
          fit: q.fit,
          format: q.format,
          quality: q.quality,
        } as Record<string, string>),
      });
    const t = await open(query);
    expect((await imageOf(t)).meta).toMatchObject({ width: 64, height: 48, format: 'png' });
    expect(t.linked).toBe(true);
    expect(await failure(open({ ...query, width: '65' }))).toBe('404 NOT_FOUND');
    // A preview link of the same file opens no thumbnail, and the other way round.
    const preview = new URL(
      (await createLink({ tenant: T, path: 'l/secret.jpg', disposition: 'inline', baseUrl: 'http://x' })).url,
    );
    expect(
      await failure(
        open({ ...query, ...Object.fromEntries(preview.searchParams), width: '120', height: '120' }),
      ),
    ).toBe('404 NOT_FOUND');
    expect(await failure(open({ ...query, expires: String(Math.floor(Date.now() / 1000) - 1) }))).toBe(
      '403 INVALID_LINK',
    );
  });

  it('eager sizes: rendered after the upload, served from the cache at the first request; never for non-images', async () => {
    const record = await store('e/new.jpg', await photo(500, 400), 'image/jpeg');
    expect(await renderEagerThumbnails(record)).toBe(2);
    const kept = thumbnailFiles().filter((f) => f.includes(record.id));
    expect(kept.map((f) => f.split('/').pop()).sort()).toEqual([
      '120x120-cover-q80.webp',
      '64x32-cover-q80.webp',
    ]);
    expect((await thumbnail('e/new.jpg', {}, { accept: 'image/webp' })).from).toBe('cache');
    const small = await imageOf(
      await thumbnail('e/new.jpg', { width: '64', height: '32' }, { accept: 'image/webp' }),
    );
    expect(small.meta).toMatchObject({ width: 64, height: 32, format: 'webp' });
    // Not an image, or no image after all: nothing, and no error.
    const text = await store('e/readme.txt', Buffer.from('text'), 'text/plain');
    const fake = await store('e/fake.png', Buffer.from('not an image'), 'image/png');
    expect(await renderEagerThumbnails(text)).toBe(0);
    expect(await renderEagerThumbnails(fake)).toBe(0);
    expect(thumbnailFiles().filter((f) => f.includes(fake.id) || f.includes(text.id))).toEqual([]);
    expect(await violations(T, { settled: false })).toEqual([]);
  });
});
