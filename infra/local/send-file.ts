import { type ReadStream, read } from 'node:fs';
import type { ServerResponse } from 'node:http';

/**
 * Sends a file (a local-disk body: an fs read stream, not read yet) through reused buffers. A read
 * stream allocates a new 1 MiB buffer per read; V8 counts those as external memory and runs a full
 * collection of the server's heap for every 64 MiB or so of them, which cost a large download about
 * half a CPU second per GiB more than a bare server (bench (b)). Here two buffers alternate: one is
 * read into while the other is being written, and a buffer is read into again only once its write
 * has called back (the socket no longer needs its bytes). Buffers go back to a small pool after a
 * response that ended cleanly.
 *
 * The bytes are read from the stream's own descriptor (local disk opens the file in get, so that
 * its size and bytes are those of one file), and the stream is destroyed afterwards, which closes it.
 */
const CHUNK_BYTES = 1024 * 1024;
const POOL_MAX = 8;
const pool: Buffer[] = [];

export async function sendFile(stream: ReadStream, res: ServerResponse): Promise<void> {
  const first = (stream as { start?: number }).start ?? 0;
  const end = (stream as { end?: number }).end ?? Number.POSITIVE_INFINITY; // inclusive, like the stream's
  try {
    const fd = await descriptorOf(stream);
    if (end - first + 1 <= CHUNK_BYTES) {
      // A small file or range (most thumbnails and records) in one read of its own size.
      const buffer = Buffer.allocUnsafe(Math.max(0, end - first + 1));
      res.end(buffer.subarray(0, await readAt(fd, buffer, buffer.length, first)));
      return;
    }
    await sendChunks(fd, res, first, end);
  } finally {
    stream.destroy();
  }
}

/** The stream's file descriptor: there already when it was made from an open file, else once it opens. */
function descriptorOf(stream: ReadStream): Promise<number> {
  const { fd } = stream as { fd?: number | null };
  if (typeof fd === 'number') return Promise.resolve(fd);
  return new Promise((resolve, reject) => {
    stream.once('open', resolve);
    stream.once('error', reject);
  });
}

function readAt(fd: number, buffer: Buffer, length: number, position: number): Promise<number> {
  if (length === 0) return Promise.resolve(0);
  return new Promise((resolve, reject) =>
    read(fd, buffer, 0, length, position, (e, bytesRead) => (e ? reject(e) : resolve(bytesRead))),
  );
}

async function sendChunks(fd: number, res: ServerResponse, first: number, end: number) {
  const buffers = [
    pool.pop() ?? Buffer.allocUnsafe(CHUNK_BYTES),
    pool.pop() ?? Buffer.allocUnsafe(CHUNK_BYTES),
  ];
  const writes: (Promise<void> | undefined)[] = [undefined, undefined];
  let position = first;
  for (let i = 0; position <= end && !res.destroyed; i = 1 - i) {
    await writes[i];
    const buffer = buffers[i] as Buffer;
    const wanted = Math.min(CHUNK_BYTES, end - position + 1);
    const bytesRead = await readAt(fd, buffer, wanted, position);
    if (bytesRead === 0) break;
    position += bytesRead;
    writes[i] = new Promise<void>((resolve, reject) => {
      res.write(buffer.subarray(0, bytesRead), (e) => (e ? reject(e) : resolve()));
    });
    // A write that fails is seen when its buffer comes round again, or just below.
    writes[i]?.catch(() => undefined);
    // A short read of a regular file is its end: no further read to find out.
    if (bytesRead < wanted) break;
  }
  await Promise.all(writes);
  if (res.destroyed) return;
  res.end();
  // Every write has called back: no socket holds these bytes any more.
  for (const buffer of buffers) if (pool.length < POOL_MAX) pool.push(buffer);
}
