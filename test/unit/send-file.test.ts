import { randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, openSync, type ReadStream, rmSync, writeFileSync } from 'node:fs';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendFile } from '../../infra/local/send-file';

/**
 * The local server's file sender over a real socket: whole files and ranges arrive byte for byte,
 * also when the client reads slowly (the buffers are reused only after their writes), and a client
 * that goes away mid-file leaves the next answers intact.
 */
const dir = mkdtempSync(join(tmpdir(), 'send-file-'));
// Larger than the socket buffers on both sides, so that writes wait while the client does not read.
const bytes = randomBytes(24 * 1024 * 1024 + 12345);
const file = join(dir, 'file.bin');
let server: Server;
const opened: ReadStream[] = [];
let url: string;

beforeAll(async () => {
  writeFileSync(file, bytes);
  server = createServer((req, res) => {
    const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    const bounds = range ? { start: Number(range[1]), end: Number(range[2]) } : {};
    res.writeHead(200);
    // As local disk gives them: a stream of a file it opened (with the file's end), or by path.
    const stream =
      req.url === '/open'
        ? createReadStream('', { fd: openSync(file, 'r'), start: 0, end: bytes.length - 1, ...bounds })
        : createReadStream(file, bounds);
    if (req.url === '/open') opened.push(stream);
    sendFile(stream, res).catch(() => res.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

function download(headers: Record<string, string> = {}, slow = false, path = '/'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    get(`${url}${path}`, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        // A slow client: it stops reading for a while at the first bytes and again every 4 MiB.
        if (slow && (chunks.length === 1 || chunks.length % 64 === 0)) {
          res.pause();
          setTimeout(() => res.resume(), 100);
        }
      });
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', reject);
    }).on('error', reject);
  });
}

describe('sendFile', () => {
  it('sends the whole file, and ranges, byte for byte; several at once', async () => {
    const [whole, slow, range, tail, past] = await Promise.all([
      download(),
      download({}, true),
      download({ range: 'bytes=1048570-3145740' }),
      download({ range: `bytes=${bytes.length - 7}-${bytes.length - 1}` }),
      download({ range: `bytes=${bytes.length - 3}-${bytes.length + 99}` }),
    ]);
    expect(whole.equals(bytes)).toBe(true);
    expect(slow.equals(bytes)).toBe(true);
    expect(range.equals(bytes.subarray(1048570, 3145741))).toBe(true);
    expect(tail.equals(bytes.subarray(bytes.length - 7))).toBe(true);
    expect(past.equals(bytes.subarray(bytes.length - 3))).toBe(true);
  });

  it('a client that goes away mid-file harms nothing that follows', async () => {
    await new Promise<void>((resolve) => {
      const req = get(url, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => undefined);
    });
    await new Promise((r) => setTimeout(r, 50));
    const [a, b] = await Promise.all([download(), download({}, true)]);
    expect(a.equals(bytes)).toBe(true);
    expect(b.equals(bytes)).toBe(true);
  });

  it('a stream of a file already open (local disk gives those) is sent from it and closes it', async () => {
    const [whole, slow, range, small] = await Promise.all([
      download({}, false, '/open'),
      download({}, true, '/open'),
      download({ range: 'bytes=1048570-3145740' }, false, '/open'),
      download({ range: 'bytes=5-4100' }, false, '/open'),
    ]);
    expect(whole.equals(bytes)).toBe(true);
    expect(slow.equals(bytes)).toBe(true);
    expect(range.equals(bytes.subarray(1048570, 3145741))).toBe(true);
    expect(small.equals(bytes.subarray(5, 4101))).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(opened).toHaveLength(4);
    // Each stream closed its descriptor once its file was sent.
    expect(opened.map((s) => s.closed)).toEqual([true, true, true, true]);
  });
});
