import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, type StartedServer, startServer } from '../helpers/local-server';

/**
 * The doors of issue 9 over HTTP against the started local server: who may rule quotas, what a
 * link is bound to, what preview serves inline, and what a wrong link reveals.
 */
let server: StartedServer;
let dataDir: string;
let alice: string;
let bob: string;

const run = promisify(execFile);

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'storage-e2e-security-'));
  server = await startServer(dataDir, { SWEEP_INTERVAL: '0' });
  alice = await server.token('acme', 'alice');
  bob = await server.token('globex', 'bob');
});
afterAll(async () => {
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const enc = (path: string) => path.split('/').map(encodeURIComponent).join('/');
const auth = (token: string, extra: Record<string, string> = {}) => ({
  authorization: `Bearer ${token}`,
  ...extra,
});
/** Links name the configured public base URL; the test talks to the server's real port. */
const local = (url: string) => url.replace(/^http:\/\/localhost:\d+/, server.url);

async function put(token: string, path: string, body: string, query = '', type = 'text/plain') {
  const res = await fetch(`${server.url}/v1/objects/${enc(path)}${query}`, {
    method: 'PUT',
    headers: auth(token, { 'content-type': type }),
    body,
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as { id: string };
}

async function link(token: string, path: string, extra: Record<string, unknown> = {}) {
  const res = await fetch(`${server.url}/v1/links`, {
    method: 'POST',
    headers: auth(token, { 'content-type': 'application/json' }),
    body: JSON.stringify({ path, ...extra }),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return local(((await res.json()) as { url: string }).url);
}

async function answer(res: Response | Promise<Response>) {
  const r = await res;
  const text = await r.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    code = undefined;
  }
  return { status: r.status, code, text, headers: r.headers };
}
const outcome = async (res: Response | Promise<Response>) => {
  const a = await answer(res);
  return `${a.status} ${a.code}`;
};

const setQuota = (token: string, tenant: string, limitBytes: number) =>
  fetch(`${server.url}/v1/quota/${tenant}`, {
    method: 'PUT',
    headers: auth(token, { 'content-type': 'application/json' }),
    body: JSON.stringify({ limitBytes }),
  });

/** `npm run token -- ...` as a user runs it, against this server's data folder. */
async function cliToken(...args: string[]) {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'infra/local/token.ts', ...args], {
    env: { ...process.env, DATA_DIR: dataDir },
  });
  return stdout.trim();
}

describe('roles: tenant tokens stay in their tenant, operators are configured', () => {
  it('a default dev token (npm run token) uploads and reads its usage, but cannot rule any quota', async () => {
    const tenantToken = await cliToken('--tenant', 'acme', '--user', 'carol');
    await put(tenantToken, 'roles/a.txt', 'abc');
    const usage = await answer(fetch(`${server.url}/v1/usage`, { headers: auth(tenantToken) }));
    expect(usage.status).toBe(200);
    expect(JSON.parse(usage.text)).toMatchObject({ tenant: 'acme', usedBytes: 3, fileCount: 1 });
    // The reported attack: a tenant sets another tenant's quota to 1 byte.
    expect(await outcome(setQuota(tenantToken, 'globex', 1))).toBe('403 FORBIDDEN');
    expect(await outcome(setQuota(tenantToken, 'acme', 10 ** 12))).toBe('403 FORBIDDEN');
    await put(bob, 'still-works.txt', 'globex uploads are not broken');
  });

  it('a token that merely claims storage:manage is still a tenant token', async () => {
    const pretender = await server.token('acme', 'mallory', 'storage:upload storage:download storage:manage');
    expect(await outcome(setQuota(pretender, 'globex', 1))).toBe('403 FORBIDDEN');
    const recalc = fetch(`${server.url}/v1/usage/recalculate?tenant=globex`, {
      method: 'POST',
      headers: auth(pretender),
    });
    expect(await outcome(recalc)).toBe('403 FORBIDDEN');
    const own = fetch(`${server.url}/v1/usage/recalculate`, { method: 'POST', headers: auth(pretender) });
    expect(await outcome(own)).toBe('403 FORBIDDEN');
    const audit = fetch(`${server.url}/v1/audit?tenant=globex`, { method: 'POST', headers: auth(pretender) });
    expect(await outcome(audit)).toBe('403 FORBIDDEN');
    // A forged operator claim without the scope is not enough either.
    const claimOnly = await server.token('acme', 'mallory', 'storage:download', { storage_role: 'operator' });
    expect(await outcome(setQuota(claimOnly, 'globex', 1))).toBe('403 FORBIDDEN');
  });

  it('npm run token -- --operator makes an operator: quotas, recalculation and the audit, for any tenant', async () => {
    const operator = await cliToken('--operator');
    const set = await answer(setQuota(operator, 'globex', 50));
    expect(set.status, set.text).toBe(200);
    expect(JSON.parse(set.text)).toMatchObject({ tenant: 'globex', limitBytes: 50 });
    const recalc = await answer(
      fetch(`${server.url}/v1/usage/recalculate?tenant=globex`, { method: 'POST', headers: auth(operator) }),
    );
    expect(recalc.status, recalc.text).toBe(200);
    expect(JSON.parse(recalc.text)).toMatchObject({ tenant: 'globex', fileCount: 1 });
    // Without a tenant claim there is no "own" tenant to fall back to.
    const noTenant = fetch(`${server.url}/v1/usage/recalculate`, { method: 'POST', headers: auth(operator) });
    expect(await outcome(noTenant)).toBe('400 INVALID_REQUEST');
    const audit = await answer(
      fetch(`${server.url}/v1/audit?tenant=globex`, { method: 'POST', headers: auth(operator) }),
    );
    expect(audit.status, audit.text).toBe(200);
    // An operator is no tenant: it has no files of its own to read or write.
    expect(await outcome(fetch(`${server.url}/v1/objects`, { headers: auth(operator) }))).toBe(
      '403 FORBIDDEN',
    );
    expect(await outcome(setQuota(operator, 'globex', 10 ** 10))).toBe('200 undefined');
  });
});

describe('links are bound to the file they were made for', () => {
  it('a deleted file and a new upload at its path kill its links', async () => {
    await put(alice, 'links/report.txt', 'version one');
    const url = await link(alice, 'links/report.txt');
    expect(new URL(url).searchParams.get('kid')).toMatch(/^[A-Za-z0-9_-]{8,}$/);
    expect(await (await fetch(url)).text()).toBe('version one');
    const del = await fetch(`${server.url}/v1/objects/links/report.txt`, {
      method: 'DELETE',
      headers: auth(alice),
    });
    expect(del.status).toBe(204);
    await put(alice, 'links/report.txt', 'version two, for other eyes');
    expect(await outcome(fetch(url))).toBe('404 NOT_FOUND');
    expect(await (await fetch(await link(alice, 'links/report.txt'))).text()).toBe(
      'version two, for other eyes',
    );
  });

  it('an overwrite kills the links of the file it replaces', async () => {
    await put(alice, 'links/over.txt', 'first');
    const url = await link(alice, 'links/over.txt', { disposition: 'attachment' });
    expect(await (await fetch(url)).text()).toBe('first');
    await put(alice, 'links/over.txt', 'second', '?onConflict=overwrite');
    expect(await outcome(fetch(url))).toBe('404 NOT_FOUND');
  });

  it('the owner revokes every link of a file; links made afterwards work', async () => {
    await put(alice, 'links/shared.txt', 'shared for a while');
    const first = await link(alice, 'links/shared.txt');
    const second = await link(alice, 'links/shared.txt', { disposition: 'attachment', expiresIn: 3600 });
    const revoke = await fetch(`${server.url}/v1/links/links/shared.txt`, {
      method: 'DELETE',
      headers: auth(alice),
    });
    expect(revoke.status).toBe(204);
    expect(await outcome(fetch(first))).toBe('404 NOT_FOUND');
    expect(await outcome(fetch(second))).toBe('404 NOT_FOUND');
    // The file itself is untouched, and a new link works.
    const file = await fetch(`${server.url}/v1/objects/links/shared.txt`, { headers: auth(alice) });
    expect(await file.text()).toBe('shared for a while');
    expect(await (await fetch(await link(alice, 'links/shared.txt'))).text()).toBe('shared for a while');
  });

  it('revoking needs the upload scope and acts on the caller tenant only', async () => {
    await put(alice, 'links/mine.txt', 'acme only');
    const url = await link(alice, 'links/mine.txt');
    const reader = await server.token('acme', 'reader', 'storage:download');
    const byReader = fetch(`${server.url}/v1/links/links/mine.txt`, {
      method: 'DELETE',
      headers: auth(reader),
    });
    expect(await outcome(byReader)).toBe('403 FORBIDDEN');
    const byBob = fetch(`${server.url}/v1/links/links/mine.txt`, { method: 'DELETE', headers: auth(bob) });
    expect(await outcome(byBob)).toBe('404 NOT_FOUND');
    expect(await (await fetch(url)).text()).toBe('acme only');
    // Sent as typed: fetch would resolve the "..".
    const bad = await rawRequest(server.url, 'DELETE', '/v1/links/a/../b.txt', auth(alice));
    expect(bad).toMatchObject({ status: 400, json: { error: { code: 'PATH_TRAVERSAL' } } });
  });
});

describe('a wrong link reveals nothing', () => {
  it('a bad signature answers the same for an existing private file and a missing one', async () => {
    await put(alice, 'oracle/exists.txt', 'private');
    const url = new URL(await link(alice, 'oracle/exists.txt'));
    url.searchParams.set('signature', 'A'.repeat(43));
    const existing = await answer(fetch(url));
    const missingUrl = new URL(url);
    missingUrl.pathname = '/v1/preview/acme/oracle/missing.txt';
    const missing = await answer(fetch(missingUrl));
    expect(existing.status).toBe(404);
    expect(existing.code).toBe('NOT_FOUND');
    expect(existing.text).toBe(missing.text);
    expect(existing.status).toBe(missing.status);
    // A link bent to another tenant, or a signature of the wrong length, answers the same way.
    const bent = new URL(await link(alice, 'oracle/exists.txt'));
    bent.pathname = bent.pathname.replace('/preview/acme/', '/preview/globex/');
    expect((await answer(fetch(bent))).text).toBe(missing.text);
    url.searchParams.set('signature', 'short');
    expect((await answer(fetch(url))).text).toBe(missing.text);
  });

  it('an expired link says so before any lookup, for existing and missing files alike', async () => {
    const url = new URL(await link(alice, 'oracle/exists.txt'));
    url.searchParams.set('expires', String(Math.floor(Date.now() / 1000) - 60));
    const existing = await answer(fetch(url));
    url.pathname = '/v1/preview/acme/oracle/missing.txt';
    const missing = await answer(fetch(url));
    expect(`${existing.status} ${existing.code}`).toBe('403 INVALID_LINK');
    expect(existing.text).toBe(missing.text);
  });
});

describe('preview never serves active content inline', () => {
  const active = [
    ['page.html', 'text/html', '<script>alert(document.cookie)</script>'],
    ['page2.htm', 'Text/HTML; charset=utf-8', '<script>alert(1)</script>'],
    ['icon.svg', 'image/svg+xml', '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'],
    [
      'feed.xml',
      'application/xml',
      '<?xml version="1.0"?><x:script xmlns:x="http://www.w3.org/1999/xhtml">alert(1)</x:script>',
    ],
    [
      'page.xhtml',
      'application/xhtml+xml',
      '<html xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></html>',
    ],
    ['app.js', 'text/javascript', 'alert(1)'],
    ['mystery.bin', 'application/x-unknown-thing', 'who knows'],
  ] as const;

  it.each(active)('%s (%s) is served as an attachment, public or by link', async (name, type, body) => {
    await put(alice, `xss/${name}`, body, '?visibility=public', type);
    for (const url of [`${server.url}/v1/preview/acme/xss/${name}`, await link(alice, `xss/${name}`)]) {
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-disposition')).toMatch(/^attachment;/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await res.text()).toBe(body);
    }
  });

  it.each([
    ['photo.png', 'image/png'],
    ['photo.jpg', 'image/jpeg'],
    ['notes.txt', 'text/plain'],
    ['paper.pdf', 'application/pdf'],
    ['clip.mp4', 'video/mp4'],
  ])('%s (%s) stays inline, sandboxed', async (name, type) => {
    await put(alice, `safe/${name}`, 'bytes', '?visibility=public', type);
    const res = await fetch(`${server.url}/v1/preview/acme/safe/${name}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toMatch(/^inline;/);
    expect(res.headers.get('content-security-policy')).toContain('sandbox');
    await res.body?.cancel();
  });
});
