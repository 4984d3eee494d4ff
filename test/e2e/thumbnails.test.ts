import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StartedServer, startServer } from '../helpers/local-server';

/**
 * previewThumbnail over HTTP against the server `npm start` runs (local disk, and the S3 emulator
 * where cached thumbnails answer with a redirect to a presigned GET): headers, links, errors as
 * JSON, and the eager sizes rendered in the background after an upload.
 */
const dirs: string[] = [];
const servers: StartedServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function start(env: Record<string, string> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'storage-e2e-thumbs-'));
  dirs.push(dataDir);
  const server = await startServer(dataDir, { SWEEP_INTERVAL: '0', ...env });
  servers.push(server);
  return { server, dataDir, token: await server.token('pics', 'pat') };
}

const picture = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: '#c04020' } })
    .composite([
      {
        input: Buffer.from(
          `<svg width="${width}" height="${height}"><circle cx="${width / 2}" cy="${height / 2}" r="${height / 3}" fill="#2040c0"/></svg>`,
        ),
      },
    ])
    .jpeg({ quality: 85 })
    .toBuffer();

async function put(
  server: StartedServer,
  token: string,
  path: string,
  body: Buffer,
  type: string,
  query = '',
) {
  const res = await fetch(`${server.url}/v1/objects/${path}${query}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': type },
    body,
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as { id: string };
}

const codeOf = async (res: Response) =>
  `${res.status} ${((await res.json()) as { error: { code: string } }).error.code}`;

describe('thumbnails over HTTP (npm start, local disk)', () => {
  let local: Awaited<ReturnType<typeof start>>;
  beforeAll(async () => {
    local = await start({ THUMBNAIL_EAGER_SIZES: '120x120,480x320' });
  });

  it('public: headers for caches, 304 for a held ETag, JSON errors with their codes', async () => {
    const { server, token } = local;
    await put(server, token, 'gallery/sun.jpg', await picture(640, 480), 'image/jpeg', '?visibility=public');
    const url = `${server.url}/v1/thumbnails/pics/gallery/sun.jpg`;
    const res = await fetch(`${url}?width=160&height=90`, {
      headers: { accept: 'image/avif,image/webp,*/*' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/webp');
    expect(res.headers.get('cache-control')).toBe('public, max-age=300');
    expect(res.headers.get('vary')).toBe('Accept');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const etag = res.headers.get('etag') as string;
    expect(etag).toMatch(/^"t-[\w-]+"$/);
    expect(await sharp(Buffer.from(await res.arrayBuffer())).metadata()).toMatchObject({
      format: 'webp',
      width: 160,
      height: 90,
    });
    const cached = await fetch(`${url}?width=160&height=90`, {
      headers: { accept: 'image/webp', 'if-none-match': etag },
    });
    expect(cached.status).toBe(304);
    expect(cached.headers.get('etag')).toBe(etag);
    // An explicit format does not vary on Accept.
    const png = await fetch(`${url}?format=png`);
    expect([png.status, png.headers.get('content-type'), png.headers.get('vary')]).toEqual([
      200,
      'image/png',
      null,
    ]);

    for (const [query, code] of [
      ['width=0', '400 INVALID_THUMBNAIL_SIZE'],
      ['height=99999', '400 INVALID_THUMBNAIL_SIZE'],
      ['fit=stretch', '400 INVALID_THUMBNAIL_FIT'],
      ['format=tiff', '400 INVALID_THUMBNAIL_FORMAT'],
      ['quality=5', '400 INVALID_THUMBNAIL_QUALITY'],
    ]) {
      expect(await codeOf(await fetch(`${url}?${query}`)), query).toBe(code);
    }
    await put(server, token, 'gallery/readme.txt', Buffer.from('words'), 'text/plain', '?visibility=public');
    expect(await codeOf(await fetch(`${server.url}/v1/thumbnails/pics/gallery/readme.txt`))).toBe(
      '415 UNSUPPORTED_IMAGE',
    );
    expect(await codeOf(await fetch(`${server.url}/v1/thumbnails/pics/gallery/none.jpg`))).toBe(
      '404 NOT_FOUND',
    );
  });

  it('private: only through a link that signs the parameters; POST /v1/links checks them', async () => {
    const { server, token } = local;
    await put(server, token, 'private/face.jpg', await picture(300, 300), 'image/jpeg');
    const bare = await fetch(`${server.url}/v1/thumbnails/pics/private/face.jpg`);
    expect(await codeOf(bare)).toBe('404 NOT_FOUND');
    const link = async (body: Record<string, unknown>) =>
      fetch(`${server.url}/v1/links`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ path: 'private/face.jpg', expiresIn: 60, ...body }),
      });
    const made = await link({ thumbnail: { width: 48, height: 48, format: 'jpeg' } });
    expect(made.status).toBe(201);
    const signed = new URL(((await made.json()) as { url: string }).url);
    expect(signed.pathname).toBe('/v1/thumbnails/pics/private/face.jpg');
    const at = `${server.url}${signed.pathname}`;
    const opened = await fetch(`${at}${signed.search}`);
    expect(opened.status).toBe(200);
    expect(opened.headers.get('cache-control')).toBe('private, max-age=300');
    expect(await sharp(Buffer.from(await opened.arrayBuffer())).metadata()).toMatchObject({
      format: 'jpeg',
      width: 48,
      height: 48,
    });
    const bigger = new URLSearchParams(signed.searchParams);
    bigger.set('width', '1024');
    expect(await codeOf(await fetch(`${at}?${bigger}`))).toBe('404 NOT_FOUND');
    expect(await codeOf(await link({ thumbnail: { width: 5000 } }))).toBe('400 INVALID_THUMBNAIL_SIZE');
    expect(await codeOf(await link({ thumbnail: { fit: 'squash' } }))).toBe('400 INVALID_THUMBNAIL_FIT');
    expect(await codeOf(await link({ thumbnail: { quality: 101 } }))).toBe('400 INVALID_THUMBNAIL_QUALITY');
    expect(await codeOf(await link({ thumbnail: { format: 'heic' } }))).toBe('400 INVALID_THUMBNAIL_FORMAT');
  });

  it('eager sizes: rendered in the background after the upload answers; a file that is no image still uploads', async () => {
    const { server, token, dataDir } = local;
    const { id } = await put(server, token, 'eager/big.jpg', await picture(2000, 1500), 'image/jpeg');
    const folder = join(dataDir, 'objects', '_thumbs', 'pics', id.slice(0, 2), id);
    const deadline = Date.now() + 15_000;
    while (!(existsSync(folder) && readdirSync(folder).length === 2) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(readdirSync(folder).sort()).toEqual(['120x120-cover-q80.webp', '480x320-cover-q80.webp']);
    // Declared an image, is none: the upload stands, and nothing is rendered.
    const broken = await put(server, token, 'eager/broken.png', Buffer.from('not a picture'), 'image/png');
    await new Promise((r) => setTimeout(r, 500));
    expect(existsSync(join(dataDir, 'objects', '_thumbs', 'pics', broken.id.slice(0, 2), broken.id))).toBe(
      false,
    );
    const meta = await fetch(`${server.url}/v1/meta/eager/broken.png`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(meta.status).toBe(200);
  });
});

describe('thumbnails over HTTP (STORAGE_EMULATOR=s3)', () => {
  it('a miss answers the bytes; a cached thumbnail redirects to a presigned GET of it', async () => {
    const { server, token } = await start({ STORAGE_EMULATOR: 's3', THUMBNAIL_EAGER_SIZES: '' });
    await put(server, token, 'cloud/sky.jpg', await picture(400, 300), 'image/jpeg', '?visibility=public');
    const url = `${server.url}/v1/thumbnails/pics/cloud/sky.jpg?width=100&height=100`;
    const first = await fetch(url, { headers: { accept: 'image/webp' }, redirect: 'manual' });
    expect(first.status).toBe(200);
    const rendered = Buffer.from(await first.arrayBuffer());
    // The local server keeps a render after answering it: until then a request renders again (200).
    let second = await fetch(url, { headers: { accept: 'image/webp' }, redirect: 'manual' });
    for (let i = 0; second.status === 200 && i < 100; i++) {
      await second.arrayBuffer();
      await new Promise((r) => setTimeout(r, 50));
      second = await fetch(url, { headers: { accept: 'image/webp' }, redirect: 'manual' });
    }
    expect(second.status).toBe(302);
    const location = second.headers.get('location') as string;
    expect(location).toMatch(/X-Amz-Signature=/);
    expect(new URL(location).pathname).toContain('/_thumbs/pics/');
    const followed = await fetch(location);
    expect(followed.status).toBe(200);
    expect(followed.headers.get('content-type')).toBe('image/webp');
    expect(Buffer.from(await followed.arrayBuffer()).equals(rendered)).toBe(true);
  });
});
