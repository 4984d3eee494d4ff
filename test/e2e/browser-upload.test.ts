import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BROWSER_STATIC_DIR,
  launchChromium,
  pageBytes,
  sha256,
  uploadThroughPage,
} from '../helpers/browser-upload';
import { startServer } from '../helpers/local-server';

/**
 * Issue 10, the browser proof: the plain-JS page test/browser/static/upload.html, served by the
 * local server itself, uploads 64 MiB from headless Chromium straight to the storage through the
 * multipart plan (parts signed in batches, 4 in parallel, per-part progress), survives one part's
 * failed first attempt and a reload mid-upload (resumed from the listed parts), then downloads the
 * file back and compares sha256. With the S3 emulator every part and the download's 302 target are
 * on another origin than the page: the bucket's own CORS rule answers the preflights and must expose
 * the ETag.
 */

const SIZE = 64 * 1024 * 1024;
const SEED = 20_251_010;
const expectedSha = sha256(pageBytes(SIZE, SEED));
const expectedMd5 = createHash('md5').update(pageBytes(SIZE, SEED)).digest('hex');

let browser: Browser;
const dirs: string[] = [];
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('a browser uploads 64 MiB straight to the storage through the multipart plan', () => {
  // Complete checks 64 MiB itself (200). On local disk the page declares the md5 and a lower
  // VERIFY_INLINE_BYTES makes the service hand the read off (202 VERIFYING): the page polls until READY.
  it.each([
    ['the S3 emulator', { STORAGE_EMULATOR: 's3' }, 200, false],
    ['local disk', { VERIFY_INLINE_BYTES: String(32 * 1024 * 1024) }, 202, true],
  ])(
    '%s: per-part progress, a failed part retried, a reload resumed, sha256 equal',
    async (_name, env: Record<string, string>, completeStatus, declareMd5) => {
      const dataDir = mkdtempSync(join(tmpdir(), 'storage-browser-'));
      dirs.push(dataDir);
      const server = await startServer(dataDir, {
        ...env,
        LOCAL_STATIC_DIR: BROWSER_STATIC_DIR,
        SWEEP_INTERVAL: '0',
      });
      try {
        const bucket = /Storage emulator \(s3\) on (http:\/\/127\.0\.0\.1:\d+)/.exec(server.output())?.[1];
        expect(Boolean(bucket)).toBe('STORAGE_EMULATOR' in env);
        const token = await server.token('web', 'wendy');
        const path = 'browser/big file.bin';
        const outcome = await uploadThroughPage(browser, {
          // localhost: the origin PUBLIC_BASE_URL names, so local-disk part URLs are the page's own.
          origin: `http://localhost:${server.port}`,
          token,
          path,
          size: SIZE,
          seed: SEED,
          bucket,
          failedPart: 2,
          reloadAfterParts: 4,
          ...(declareMd5 ? { md5: expectedMd5 } : {}),
        });
        expect(outcome.completeStatus).toBe(completeStatus);
        expect(outcome.plannedParts).toBe(13); // 64 MiB in parts of 5 MiB, the smallest part size
        expect(outcome.resumed).toContain(2);
        expect(outcome.resumed.length).toBeGreaterThanOrEqual(4);
        expect(outcome.resumed.length).toBeLessThan(13);
        for (const n of outcome.resumed) expect(outcome.sentAfterReload).not.toContain(n);

        // The page's sha256 of what it generated, of what it downloaded, and ours agree.
        expect(outcome.pageSha).toBe(expectedSha);
        expect(outcome.downloadedSha).toBe(expectedSha);
        // And the service, asked by something else than the browser, has the same bytes.
        const download = await fetch(`${server.url}/v1/objects/browser/big%20file.bin`, {
          headers: { authorization: `Bearer ${token}` },
        });
        expect(download.status).toBe(200);
        expect(sha256(Buffer.from(await download.arrayBuffer()))).toBe(expectedSha);
      } finally {
        expect(await server.stop()).toBe(0);
      }
    },
    90_000,
  );
});
