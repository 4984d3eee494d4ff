import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { decodeJwt } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { portOpen, startServer } from '../helpers/local-server';

const run = promisify(execFile);
const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'storage-runtime-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the one-machine runtime (npm start)', () => {
  it('keeps files, large ones too, across a restart, and Ctrl-C stops everything it started', async () => {
    const dataDir = tempDir();
    const first = await startServer(dataDir, { SWEEP_INTERVAL: '0' });
    expect(first.output()).toMatch(/ready on http:\/\/localhost:\d+/);
    const token = await first.token('keep', 'kim');
    const put = await fetch(`${first.url}/v1/objects/kept.txt`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
      body: 'still here',
    });
    expect(put.status).toBe(201);
    // Bodies past the Lambda cap stream through, hashed on worker threads, by PUT and by form.
    const big = randomBytes(12 * 1024 * 1024 + 3);
    const bigPut = await fetch(`${first.url}/v1/objects/big/put.bin`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}` },
      body: big,
    });
    const form = new FormData();
    form.set('path', 'big/form.bin');
    form.set('file', new Blob([big]), 'form.bin');
    const bigForm = await fetch(`${first.url}/v1/objects`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: form,
    });
    for (const res of [bigPut, bigForm]) {
      expect(res.status).toBe(201);
      expect(await res.json()).toMatchObject({ size: big.length, md5: md5(big) });
    }
    expect(await portOpen(first.dynamoEndpoint)).toBe(true);
    expect(await first.stop()).toBe(0);
    expect(await portOpen(first.dynamoEndpoint)).toBe(false);
    expect(await portOpen(first.url)).toBe(false);

    const second = await startServer(dataDir, { SWEEP_INTERVAL: '0' });
    try {
      // The token from the first run is still valid: the dev secrets live in DATA_DIR too.
      const get = await fetch(`${second.url}/v1/objects/kept.txt`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(get.status).toBe(200);
      expect(await get.text()).toBe('still here');
      for (const path of ['big/put.bin', 'big/form.bin']) {
        const res = await fetch(`${second.url}/v1/objects/${path}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        expect(Buffer.from(await res.arrayBuffer()).equals(big)).toBe(true);
      }
    } finally {
      await second.stop();
    }
  });

  it('a killed server (SIGKILL, no chance to clean up) leaves no DynamoDB Local behind', async () => {
    const server = await startServer(tempDir(), { SWEEP_INTERVAL: '0' });
    expect(await portOpen(server.dynamoEndpoint)).toBe(true);
    const exited = new Promise((resolve) => server.child.once('exit', resolve));
    server.child.kill('SIGKILL');
    await exited;
    // DynamoDB Local sees its stdin pipe close and exits on its own.
    const deadline = Date.now() + 10_000;
    while ((await portOpen(server.dynamoEndpoint)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await portOpen(server.dynamoEndpoint)).toBe(false);
  });

  it('`npm run --silent token` prints a token and nothing else', async () => {
    const dataDir = tempDir();
    const { stdout, stderr } = await run(
      'npm',
      ['run', '--silent', 'token', '--', '--tenant', 'acme', '--user', 'ann', '--scope', 'storage:download'],
      { env: { ...process.env, DATA_DIR: dataDir } },
    );
    expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(decodeJwt(stdout.trim())).toMatchObject({ sub: 'ann', tenant: 'acme', scope: 'storage:download' });
    expect(stderr.replace(/npm warn.*\n/g, '')).toBe('');
  });

  it('says clearly when Java is missing', async () => {
    const bin = tempDir();
    symlinkSync(process.execPath, join(bin, 'node'));
    const child = spawn(process.execPath, ['--import', 'tsx', 'infra/local/start.ts'], {
      env: { ...process.env, PATH: bin, DATA_DIR: tempDir(), PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stderr.on('data', (c: Buffer) => {
      output += c.toString();
    });
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).not.toBe(0);
    expect(output).toContain('Java was not found');
  });
});
