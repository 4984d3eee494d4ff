import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLocalServer } from '../../infra/local/server';
import { signDevToken } from '../../infra/local/tokens';
import { sessionKey, type UploadSession } from '../../shared/metadata/items';
import { getUsage } from '../../shared/metadata/quota';
import { queryPartition } from '../../shared/metadata/tenants';
import { setupTestEnv, type TestEnv } from '../helpers/env';

vi.hoisted(() => {
  process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
});

/**
 * A client that goes away in the middle of an upload body: the local server's handler must fail
 * promptly and leave nothing behind (no reservation, no PENDING session, no object, no temp file).
 * The server runs in this process, over DynamoDB Local and local disk in a temp folder.
 */
const MiB = 1024 * 1024;
const tenant = 'acme';
const boundary = 'abort-test-boundary';

let env: TestEnv;
let server: Server;
let port: number;
let token: string;

// A fresh table, folder and server per case: an upload that hangs must not spoil the next case.
beforeEach(async () => {
  env = await setupTestEnv({ MAX_FILE_BYTES: String(1024 * MiB), MAX_API_UPLOAD_BYTES: String(1024 * MiB) });
  const jwtSecret = randomBytes(32).toString('hex');
  server = createLocalServer({ port: 0, jwtSecret });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  token = await signDevToken(jwtSecret, { tenant, user: 'alice' });
});
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await env?.cleanup();
});

/** Every file under the storage roots, the temp folder included. */
const allFiles = () =>
  readdirSync(env.root, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name).slice(env.root.length + 1));
const tempFiles = () => allFiles().filter((p) => p.includes('.tmp'));

async function pendingSessions(): Promise<string[]> {
  const pending: string[] = [];
  for await (const s of queryPartition<UploadSession>(sessionKey(tenant, '').pk)) {
    if (s.status === 'PENDING') pending.push(s.path);
  }
  return pending;
}

/** Polls until `check` holds; false if it still does not after `ms`. */
async function until(check: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return check();
}

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

function head(method: string, path: string, headers: Record<string, string | number>): string {
  const lines = Object.entries({ host: `127.0.0.1:${port}`, authorization: `Bearer ${token}`, ...headers });
  return `${method} ${path} HTTP/1.1\r\n${lines.map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
}

const formStart = (path: string) =>
  `--${boundary}\r\nContent-Disposition: form-data; name="path"\r\n\r\n${path}\r\n` +
  `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.bin"\r\n` +
  'Content-Type: application/octet-stream\r\n\r\n';

/** Sends the start of a body, waits until the upload holds its reservation and wrote bytes, then hangs up. */
async function abortMidBody(request: string, partOfBody: Buffer): Promise<void> {
  const socket = await open();
  socket.on('error', () => undefined);
  socket.write(request);
  socket.write(partOfBody);
  const streaming = await until(
    async () => (await getUsage(tenant)).reservedBytes > 0 && tempFiles().length > 0,
    10_000,
  );
  expect(streaming, 'the upload started: a reservation and a temp file').toBe(true);
  socket.destroy();
}

async function expectNothingLeft(what: string) {
  const released = await until(async () => (await getUsage(tenant)).reservedBytes === 0, 5_000);
  expect(released, `${what}: the reservation is released within 5 s`).toBe(true);
  expect(await pendingSessions()).toEqual([]);
  expect(await until(() => allFiles().length === 0, 1_000), `${what}: no object, no temp file`).toBe(true);
  expect((await getUsage(tenant)).fileCount).toBe(0);
}

describe('a client that aborts an upload mid-body', () => {
  // 64 MiB declared: hashed on the worker threads; 4 MiB: hashed inline.
  it.each([64, 4])(
    'a form upload (%i MiB declared): the handler fails promptly and nothing is left',
    async (declaredMiB) => {
      const start = Buffer.from(formStart(`aborted/form-${declaredMiB}.bin`));
      const request = head('POST', '/v1/objects', {
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': declaredMiB * MiB,
      });
      await abortMidBody(request, Buffer.concat([start, randomBytes(256 * 1024)]));
      await expectNothingLeft('form');
    },
  );

  it.each([64, 4])(
    'a PUT upload (%i MiB declared): the handler fails promptly and nothing is left',
    async (declaredMiB) => {
      const request = head('PUT', `/v1/objects/aborted/put-${declaredMiB}.bin`, {
        'content-type': 'application/octet-stream',
        'content-length': declaredMiB * MiB,
      });
      await abortMidBody(request, randomBytes(256 * 1024));
      await expectNothingLeft('PUT');
    },
  );

  it('a form reserves its request length while it streams, not what the quota has left', async () => {
    const start = Buffer.from(formStart('reserved/form.bin'));
    const request = head('POST', '/v1/objects', {
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': 4 * MiB,
    });
    const socket = await open();
    socket.on('error', () => undefined);
    socket.write(request);
    socket.write(Buffer.concat([start, randomBytes(256 * 1024)]));
    expect(await until(async () => (await getUsage(tenant)).reservedBytes > 0, 10_000)).toBe(true);
    // The request's length bounds the file's: that is what it holds, and all it holds.
    expect((await getUsage(tenant)).reservedBytes).toBe(4 * MiB);
    socket.destroy();
    await expectNothingLeft('form');
  });

  it('a form whose body ends inside the file part (no closing boundary) is 400 and nothing is left', async () => {
    const body = Buffer.concat([Buffer.from(formStart('aborted/cut.bin')), randomBytes(64 * 1024)]);
    const socket = await open();
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write(
      head('POST', '/v1/objects', {
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': body.length,
        connection: 'close',
      }),
    );
    socket.write(body);
    await closed;
    const response = Buffer.concat(chunks).toString();
    expect(response).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4))).toEqual({
      error: { code: 'INVALID_REQUEST', message: expect.any(String) },
    });
    await expectNothingLeft('cut form');
  });
});
