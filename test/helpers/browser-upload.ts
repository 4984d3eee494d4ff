import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page, type Request, type Route } from 'playwright-core';
import { expect } from 'vitest';

/**
 * The browser proof of issue 10: drives test/browser/static/upload.html (plain JS, served by the
 * local server under /_local/static/ when LOCAL_STATIC_DIR names that folder) in headless Chromium.
 */

export const BROWSER_STATIC_DIR = fileURLToPath(new URL('../browser/static', import.meta.url));

/** Debian's Chromium (.ci/run installs it), started as root in a container can start it. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    // No sandbox as root; and no calls home, which this machine's closed network refuses.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** The page's generator (xorshift32 over little-endian words), to know the file's sha256 independently. */
export function pageBytes(bytes: number, seed: number): Buffer {
  const words = new Uint32Array(Math.ceil(bytes / 4));
  let x = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return Buffer.from(words.buffer, 0, bytes);
}

export const sha256 = (b: Buffer | Uint8Array) => createHash('sha256').update(b).digest('hex');

export interface BrowserUploadTarget {
  /** The page's origin: the API's, and the one the local-disk upload URLs name. */
  origin: string;
  token: string;
  path: string;
  size: number;
  seed: number;
  /** The bucket's origin when parts go to a cloud storage (another origin than the page's). */
  bucket?: string;
  /** The part whose first PUT is cut off on the network. */
  failedPart: number;
  /** Parts stored before the test reloads the page. */
  reloadAfterParts: number;
  /** Declared in the plan: the service then reads the file to check it. */
  md5?: string;
}

export interface BrowserUploadOutcome {
  plannedParts: number;
  resumed: number[];
  sentBeforeReload: number[];
  sentAfterReload: number[];
  pageSha: string;
  downloadedSha: string;
  downloadUrl: string;
  /** What complete answered: 200 (verified inline) or 202 (the page polled until READY). */
  completeStatus: number;
}

interface PartRow {
  part: number;
  state: string;
  size: number;
  loaded: number;
  attempts: number;
  progressEvents: number;
  partial: boolean;
  resumed: boolean;
}

/** What the page shows for each part: the per-part progress, read from its DOM. */
function partRows(page: Page): Promise<PartRow[]> {
  return page.locator('#parts li').evaluateAll((items) =>
    items.map((li) => {
      const d = (li as unknown as { dataset: Record<string, string> }).dataset;
      return {
        part: Number(d.part),
        state: d.state ?? '',
        size: Number(d.size),
        loaded: Number(d.loaded),
        attempts: Number(d.attempts),
        progressEvents: Number(d.progressEvents),
        partial: d.partial === 'true',
        resumed: d.resumed === 'true',
      };
    }),
  );
}

/** The page's document, as the functions run in the page see it (this project has no DOM types). */
type InPage = {
  document: { querySelectorAll(s: string): ArrayLike<unknown>; getElementById(id: string): unknown };
};

/** The page's status line and log, for a failure's message. */
const pageReport = async (page: Page) =>
  `${await page.locator('#status').textContent()}\n${await page.locator('#log').textContent()}`;

const isPartsCall = (request: Request, method: string) =>
  request.method() === method && /^\/v1\/uploads\/[^/]+\/parts$/.test(new URL(request.url()).pathname);

/**
 * Opens the page, uploads, cuts one part's first attempt off, reloads once some parts are stored,
 * lets the page resume and download the file back; asserts what each step must show.
 */
export async function uploadThroughPage(
  browser: Browser,
  t: BrowserUploadTarget,
): Promise<BrowserUploadOutcome> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();

    // The reloaded page's first call lists the stored parts: every PUT after it is the new
    // document's (the old one may still start a part while the reload is under way).
    let reloading = false;
    // Which signed URL is which part: read from the page's own signing calls, as they answer.
    const partOfUrl = new Map<string, number>();
    const signing: Promise<void>[] = [];
    page.on('response', (response) => {
      if (!isPartsCall(response.request(), 'POST') || !response.ok()) return;
      signing.push(
        response
          .json()
          .then((j: { parts: { partNumber: number; url: string }[] }) => {
            for (const p of j.parts) partOfUrl.set(p.url, p.partNumber);
          })
          .catch((e: unknown) => {
            // The reload replaced the document while a signing answer was being read: its body is
            // gone (the old page's parts of it are what the reloaded page sends again).
            if (!reloading) throw e;
          }),
      );
    });
    const partOf = async (url: string) => {
      await Promise.all(signing);
      return partOfUrl.get(url) ?? -1;
    };

    let listed = false;
    const puts: { request: Request; afterReload: boolean }[] = [];
    const failed = new Set<Request>();
    page.on('request', (request) => {
      if (reloading && isPartsCall(request, 'GET')) listed = true;
      if (request.method() === 'PUT') puts.push({ request, afterReload: listed });
    });
    page.on('requestfailed', (request) => failed.add(request));

    // On loopback 64 MiB would be up in well under a second: a slower uplink (all requests of the
    // page share it) lets the reload land mid-upload and the progress events show part-way.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: 16 * 1024 * 1024,
    });

    // The forced failure: the first PUT of one part is cut off. Routing is on only until then,
    // as Playwright answers CORS preflights itself while any route is set.
    let abortedUrl = '';
    let markAborted: () => void = () => undefined;
    const aborted = new Promise<void>((resolve) => {
      markAborted = resolve;
    });
    const failOnce = async (route: Route) => {
      const request = route.request();
      if (!abortedUrl && request.method() === 'PUT' && (await partOf(request.url())) === t.failedPart) {
        abortedUrl = request.url();
        await route.abort('connectionreset');
        markAborted();
        return;
      }
      await route.continue();
    };
    await page.route('**/*', failOnce);

    const fragment = new URLSearchParams({
      token: t.token,
      path: t.path,
      size: String(t.size),
      seed: String(t.seed),
      ...(t.md5 ? { md5: t.md5 } : {}),
    });
    await page.goto(`${t.origin}/_local/static/upload.html#${fragment}`);
    await page.locator('#start').click();
    await aborted;
    await page.unroute('**/*', failOnce);

    // Mid-upload: once the failed part went through on its retry and some parts are stored, reload.
    await page.waitForFunction(
      ({ part, enough }) => {
        const { document } = globalThis as unknown as InPage;
        const failed = (document.getElementById('status') as { dataset: { state?: string } }).dataset.state;
        return (
          failed === 'failed' ||
          (document.querySelectorAll('#parts li[data-state="done"]').length >= enough &&
            document.querySelectorAll(`#parts li[data-part="${part}"][data-state="done"]`).length === 1)
        );
      },
      { part: t.failedPart, enough: t.reloadAfterParts },
      { polling: 20, timeout: 30_000 },
    );
    expect(await page.locator('#status').getAttribute('data-state'), await pageReport(page)).toBe(
      'uploading',
    );
    const beforeReload = await partRows(page);
    const plannedParts = beforeReload.length;
    expect(beforeReload.find((r) => r.part === t.failedPart)).toMatchObject({ state: 'done', attempts: 2 });
    expect(
      beforeReload.filter((r) => r.state !== 'done').length,
      'the upload had finished before the reload',
    ).toBeGreaterThan(0);
    reloading = true;
    await page.reload();

    // The page resumes by itself from the listed parts, completes, downloads and compares.
    await page.waitForFunction(
      () => {
        const { document } = globalThis as unknown as InPage;
        const state = (document.getElementById('status') as { dataset: { state?: string } } | null)?.dataset
          .state;
        return state === 'ok' || state === 'failed';
      },
      undefined,
      { polling: 100, timeout: 45_000 },
    );
    expect(await page.locator('#status').getAttribute('data-state'), await pageReport(page)).toBe('ok');
    const body = page.locator('body');
    const resumed = ((await body.getAttribute('data-resumed-parts')) ?? '')
      .split(',')
      .filter(Boolean)
      .map(Number);

    // Per-part progress: every part ends done with all its bytes; each one sent after the reload
    // reported progress part-way (the ones resumed were not sent, so show none).
    const rows = await partRows(page);
    expect(rows.map((r) => [r.part, r.state, r.loaded])).toEqual(rows.map((r) => [r.part, 'done', r.size]));
    expect(rows.reduce((s, r) => s + r.size, 0)).toBe(t.size);
    expect(rows.filter((r) => r.resumed).map((r) => r.part)).toEqual(resumed);
    for (const r of rows.filter((x) => !x.resumed)) {
      expect(r, `part ${r.part}`).toMatchObject({ attempts: 1, partial: true });
      expect(r.progressEvents, `part ${r.part}`).toBeGreaterThan(1);
    }

    // Before the reload the failed part was sent twice: cut off, then retried with success.
    const sentBeforeReload: number[] = [];
    const sentAfterReload: number[] = [];
    const failedPartPuts: Request[] = [];
    for (const p of puts) {
      const n = await partOf(p.request.url());
      (p.afterReload ? sentAfterReload : sentBeforeReload).push(n);
      if (!p.afterReload && n === t.failedPart) failedPartPuts.push(p.request);
    }
    expect(failedPartPuts.map((r) => failed.has(r))).toEqual([true, false]);
    expect(failedPartPuts[0]?.url()).toBe(abortedUrl);
    // After it, only the parts not listed were sent, each once (so none failed).
    const notListed = rows.filter((r) => !r.resumed).map((r) => r.part);
    expect([...sentAfterReload].sort((a, b) => a - b)).toEqual(notListed);
    for (const p of puts.filter((x) => x.afterReload)) expect(failed.has(p.request)).toBe(false);

    // Straight to the storage: parts (and for a bucket the download's 302 target) on its origin.
    const storageOrigin = t.bucket ?? t.origin;
    for (const p of puts) expect(new URL(p.request.url()).origin).toBe(new URL(storageOrigin).origin);
    const downloadUrl = (await body.getAttribute('data-download-url')) ?? '';
    expect(new URL(downloadUrl).origin).toBe(new URL(storageOrigin).origin);
    expect(await body.getAttribute('data-downloaded-bytes')).toBe(String(t.size));

    return {
      plannedParts,
      resumed,
      sentBeforeReload,
      sentAfterReload,
      pageSha: (await page.locator('#sha-local').textContent()) ?? '',
      downloadedSha: (await page.locator('#sha-remote').textContent()) ?? '',
      downloadUrl,
      completeStatus: Number(await body.getAttribute('data-complete-status')),
    };
  } finally {
    await context.close();
  }
}
