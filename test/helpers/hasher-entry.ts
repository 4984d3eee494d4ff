import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digests } from '../../shared/service/hasher';
import { Meter } from '../../shared/service/meter';

/**
 * Bundled by test/integration/bundled-hasher.test.ts with the deploy settings: meters `size` bytes
 * of `fill` repeated, declared up front as an upload declares them, and returns the digests.
 */
export async function meterBytes(size: number, fill: number): Promise<Digests & { bytes: number }> {
  const chunk = Buffer.alloc(64 * 1024, fill);
  let sent = 0;
  const body = new Readable({
    read() {
      const n = Math.min(chunk.length, size - sent);
      sent += n;
      this.push(n > 0 ? chunk.subarray(0, n) : null);
    },
  });
  const meter = new Meter(size, size);
  await pipeline(body, meter, new Writable({ write: (_c, _e, done) => done() }));
  return { bytes: meter.bytes, ...(await meter.digests()) };
}
