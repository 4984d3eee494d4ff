import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLocalServer } from '../../infra/local/server';
import { resetConfig } from '../../shared/config';
import { rawRequest } from '../helpers/local-server';

/**
 * The local server serves a test page's folder under /_local/static/ (LOCAL_STATIC_DIR) with its
 * content types, and nothing outside that folder, however the path spells its way out.
 */
const base = mkdtempSync(join(tmpdir(), 'local-static-'));
const root = join(base, 'site');
mkdirSync(join(root, 'sub'), { recursive: true });
writeFileSync(join(root, 'page.html'), '<!doctype html><p>hi</p>');
writeFileSync(join(root, 'sub', 'app.js'), 'console.log(1);');
writeFileSync(join(root, 'data.bin'), Buffer.from([1, 2, 3]));
writeFileSync(join(base, 'secret.txt'), 'not for the web');
writeFileSync(join(base, 'site-secret.txt'), 'a sibling that shares the prefix');

const servers: Server[] = [];
async function listen(staticDir?: string) {
  const server = createLocalServer({ port: 0, jwtSecret: 'j'.repeat(32), staticDir });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
let url: string;
beforeAll(async () => {
  url = await listen(root);
});
afterAll(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
  rmSync(base, { recursive: true, force: true });
});

describe('/_local/static/ on the local server', () => {
  it.each([
    ['page.html', 'text/html; charset=utf-8', '<!doctype html><p>hi</p>'],
    ['sub/app.js', 'text/javascript; charset=utf-8', 'console.log(1);'],
    ['data.bin', 'application/octet-stream', '\u0001\u0002\u0003'],
  ])('serves %s as %s', async (file, type, text) => {
    const res = await fetch(`${url}/_local/static/${file}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(type);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).toBe(text);
    const head = await fetch(`${url}/_local/static/${file}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
  });

  it.each([
    '/_local/static/../secret.txt',
    '/_local/static/sub/../../secret.txt',
    '/_local/static/%2e%2e/secret.txt',
    '/_local/static/%2E%2E%2Fsecret.txt',
    '/_local/static/sub%2F..%2F..%2Fsecret.txt',
    '/_local/static/..%5Csecret.txt',
    '/_local/static/..\\secret.txt',
    '/_local/static/%2Ftmp%2Fsecret.txt',
    '/_local/static/../site-secret.txt',
    '/_local/static/page.html%00.js',
    '/_local/static/%E0%A4%A',
    '/_local/static/./page.html',
    '/_local/static//page.html',
    '/_local/static/sub',
    '/_local/static/',
    '/_local/static/missing.html',
  ])('refuses %s with a 404 in the service JSON', async (path) => {
    const res = await rawRequest(url, 'GET', path);
    expect(res.status).toBe(404);
    expect(res.json).toMatchObject({ error: { code: 'NOT_FOUND' } });
    expect(JSON.stringify(res.json)).not.toContain('not for the web');
  });

  it('answers only GET and HEAD', async () => {
    const res = await rawRequest(url, 'PUT', '/_local/static/page.html', {}, 'x');
    expect(res.status).toBe(404);
  });

  it('serves nothing without a folder to serve: the path is an unknown route', async () => {
    vi.stubEnv('LOCAL_STATIC_DIR', undefined);
    vi.stubEnv('SIGNING_SECRET', 's'.repeat(32)); // the no-route function reads configuration
    resetConfig();
    try {
      const bare = await listen();
      const res = await rawRequest(bare, 'GET', '/_local/static/page.html');
      expect(res).toEqual({ status: 404, json: { error: expect.objectContaining({ code: 'NOT_FOUND' }) } });
    } finally {
      vi.unstubAllEnvs();
      resetConfig();
    }
  });
});
