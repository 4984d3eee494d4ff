import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type StartedServer, startServer } from '../helpers/local-server';

const MiB = 1024 * 1024;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function usage(server: StartedServer, token: string) {
  const res = await fetch(`${server.url}/v1/usage`, { headers: { authorization: `Bearer ${token}` } });
  return (await res.json()) as { usedBytes: number; reservedBytes: number; fileCount: number };
}

/** A PUT that declares `size` bytes and sends only the first `sent` of them, then keeps the connection open. */
function stalledUpload(server: StartedServer, token: string, path: string, size: number, sent: number) {
  const req = request(`${server.url}/v1/objects/${path}`, {
    method: 'PUT',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/octet-stream',
      'content-length': String(size),
    },
  });
  req.on('error', () => {}); // the server is about to die under it
  req.write(Buffer.alloc(sent, 7));
  return req;
}

const tempFiles = (dataDir: string) => {
  try {
    return readdirSync(join(dataDir, 'objects', '.tmp'));
  } catch {
    return [];
  }
};

describe('a crash of the server in the middle of uploads', () => {
  it('leaves no reservation and no temp file after a restart and one sweep past the grace', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'storage-crash-'));
    dirs.push(dataDir);
    const env = { PENDING_GRACE_SECONDS: '3', SWEEP_INTERVAL: '1' };
    const first = await startServer(dataDir, env);
    const token = await first.token('crash');
    const uploads = Array.from({ length: 8 }, (_, i) =>
      stalledUpload(first, token, `big/${i}.bin`, 20 * MiB, 2 * MiB),
    );
    // Wait until every upload holds its reservation and has bytes in a temp file.
    for (let i = 0; i < 100; i++) {
      if ((await usage(first, token)).reservedBytes >= 8 * 20 * MiB && tempFiles(dataDir).length >= 8) break;
      await sleep(100);
    }
    expect((await usage(first, token)).reservedBytes).toBe(8 * 20 * MiB);
    expect(tempFiles(dataDir).length).toBe(8);

    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    for (const u of uploads) u.destroy();

    const second = await startServer(dataDir, env);
    try {
      let after = await usage(second, token);
      for (let i = 0; i < 150 && (after.reservedBytes > 0 || tempFiles(dataDir).length > 0); i++) {
        await sleep(100);
        after = await usage(second, token);
      }
      expect(after).toMatchObject({ usedBytes: 0, reservedBytes: 0, fileCount: 0 });
      expect(tempFiles(dataDir)).toEqual([]);
    } finally {
      await second.stop();
    }
  });
});
