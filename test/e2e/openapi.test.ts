import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as s from '../../shared/api-schemas';
import { openApiDocument } from '../../shared/openapi';
import { launchChromium } from '../helpers/browser-upload';
import { type StartedServer, startServer } from '../helpers/local-server';

/**
 * The API document as the started server serves it, the docs page rendered by a real Chromium
 * with nothing fetched from anywhere but the server, and real answers checked against the answer
 * schemas the document is made of (the document does not describe an API that is not there).
 */
let server: StartedServer;
let dataDir: string;
let token: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'storage-e2e-openapi-'));
  server = await startServer(dataDir, { SWEEP_INTERVAL: '0' });
  token = await server.token('docs', 'dora');
});
afterAll(async () => {
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const auth = () => ({ authorization: `Bearer ${token}` });
const json = (body: unknown) => ({
  method: 'POST',
  headers: { ...auth(), 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

describe('GET /v1/openapi.json and /docs', () => {
  it('serves the generated document without a token, for the URL it is reached at', async () => {
    const res = await fetch(`${server.url}/v1/openapi.json`);
    expect(res.status).toBe(200);
    const served = (await res.json()) as { servers: { url: string }[] };
    const base = `http://localhost:${server.port}`;
    expect(served.servers).toEqual([{ url: base }]);
    expect(served).toEqual(JSON.parse(JSON.stringify(openApiDocument(base))));
  });

  it('renders the docs page in Chromium from node_modules alone: every operation listed, nothing fetched elsewhere', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const elsewhere: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith(server.url)) elsewhere.push(r.url());
      });
      await page.goto(`${server.url}/docs`);
      await page.waitForSelector('.opblock-summary', { timeout: 20_000 });
      const summaries = await page.locator('.opblock-summary-path').allTextContents();
      expect(summaries.map((t) => t.replace(/\u200b/g, ''))).toEqual(
        expect.arrayContaining(['/v1/objects/{path}', '/v1/thumbnails/{tenant}/{path}', '/v1/openapi.json']),
      );
      expect(
        await page.locator('.opblock-summary-description', { hasText: 'previewThumbnail' }).count(),
      ).toBe(1);
      expect(elsewhere).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);

  it("real answers match the document's answer schemas", async () => {
    const png = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#808000' } })
      .png()
      .toBuffer();
    const put = await fetch(`${server.url}/v1/objects/docs/pic.png?visibility=public`, {
      method: 'PUT',
      headers: { ...auth(), 'content-type': 'image/png' },
      body: png,
    });
    expect(put.status).toBe(201);
    s.attachment.parse(await put.json());
    const get = (path: string) => fetch(`${server.url}${path}`, { headers: auth() }).then((r) => r.json());
    s.attachment.parse(await get('/v1/meta/docs/pic.png'));
    s.listAnswer.parse(await get('/v1/objects?prefix=docs/'));
    s.usage.parse(await get('/v1/usage'));
    s.storagesAnswer.parse(await get('/v1/storages'));
    const link = await fetch(
      `${server.url}/v1/links`,
      json({ path: 'docs/pic.png', thumbnail: { width: 32 } }),
    );
    s.linkAnswer.parse(await link.json());
    const plan = await (
      await fetch(
        `${server.url}/v1/uploads`,
        json({ path: 'docs/big.bin', size: 11 * 1024 * 1024, multipart: true }),
      )
    ).json();
    const parsedPlan = s.uploadPlan.parse(plan);
    const id = parsedPlan.uploadId;
    s.signedParts.parse(
      await (await fetch(`${server.url}/v1/uploads/${id}/parts`, json({ parts: [1, 2] }))).json(),
    );
    s.storedParts.parse(await get(`/v1/uploads/${id}/parts`));
    s.uploadStatus.parse(await get(`/v1/uploads/${id}`));
    const single = await (
      await fetch(`${server.url}/v1/uploads`, json({ path: 'docs/small.bin', size: 10 }))
    ).json();
    s.uploadPlan.parse(single);
    // Errors too: a coded field answers its own code in the documented shape.
    const bad = await fetch(`${server.url}/v1/objects/docs/x.bin?md5=nope`, {
      method: 'PUT',
      headers: auth(),
      body: 'x',
    });
    expect(bad.status).toBe(400);
    expect(s.errorAnswer.parse(await bad.json()).error.code).toBe('INVALID_MD5');
    const thumb = await fetch(`${server.url}/v1/thumbnails/docs/docs/pic.png?width=x`);
    expect(s.errorAnswer.parse(await thumb.json()).error.code).toBe('INVALID_THUMBNAIL_SIZE');
  });
});
