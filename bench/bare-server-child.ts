/**
 * The baseline of (b): a bare Node HTTP server doing what an upload and a download of the service
 * must do, and nothing else. PUT streams the body through md5 and sha256 (on this thread) into a
 * temp file, renames it into place and answers its size and md5; GET streams the file back with
 * its length; DELETE removes it. No routing, authentication, metadata or quota. Started by
 * bench/large-file.ts as `node --import tsx bench/bare-server-child.ts` with DATA_DIR; prints one
 * JSON line `{"ready":true,"port":N}`, and exits when its stdin closes.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const dataDir = process.env.DATA_DIR;
if (!dataDir) throw new Error('DATA_DIR is required');
const files = join(dataDir, 'files');
const temp = join(dataDir, 'tmp');
mkdirSync(files, { recursive: true });
mkdirSync(temp, { recursive: true });
const fileOf = (url: string) => join(files, encodeURIComponent(url));

async function serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const file = fileOf(req.url ?? '/');
  if (req.method === 'PUT') {
    const md5 = createHash('md5');
    const sha256 = createHash('sha256');
    let size = 0;
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        md5.update(chunk);
        sha256.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    const written = join(temp, randomUUID());
    await pipeline(req, hashing, createWriteStream(written, { flags: 'wx', highWaterMark: 1024 * 1024 }));
    await rename(written, file);
    const body = JSON.stringify({ size, md5: md5.digest('hex'), sha256: sha256.digest('base64') });
    res.writeHead(201, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  } else if (req.method === 'GET') {
    const { size } = await stat(file);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
    await pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), res);
  } else if (req.method === 'DELETE') {
    await rm(file, { force: true });
    res.writeHead(204).end();
  } else {
    res.writeHead(405).end();
  }
}

const server = http.createServer((req, res) => {
  serve(req, res).catch((e: unknown) => {
    if (!res.headersSent) res.writeHead(500).end(String(e));
    else res.destroy();
  });
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`);
});
process.stdin.on('close', () => process.exit(0));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
