import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import {
  createHasher,
  type Hasher,
  InlineHasher,
  MAX_OFFLOADED,
  OFFLOAD_MIN_BYTES,
  OffloadedHasher,
} from '../../shared/service/hasher';
import { LimitExceeded, Meter } from '../../shared/service/meter';

const MiB = 1024 * 1024;

function expected(data: Buffer) {
  return {
    md5: createHash('md5').update(data).digest('hex'),
    sha256: createHash('sha256').update(data).digest('hex'),
  };
}

/** Feeds `data` in the given chunk sizes (cycled), waiting whenever the hasher asks to. */
async function feed(hasher: Hasher, data: Buffer, sizes: number[]): Promise<void> {
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = sizes[i % sizes.length] as number;
    await hasher.update(data.subarray(at, at + n));
    at += n;
  }
}

describe('hasher', () => {
  it('picks worker threads only for bodies of at least OFFLOAD_MIN_BYTES', () => {
    expect(createHasher()).toBeInstanceOf(InlineHasher);
    expect(createHasher(OFFLOAD_MIN_BYTES - 1)).toBeInstanceOf(InlineHasher);
    const large = createHasher(OFFLOAD_MIN_BYTES);
    expect(large).toBeInstanceOf(OffloadedHasher);
    large.abort();
  });

  it('offloaded digests equal node:crypto over uneven chunks, across the ring end and larger than the ring', async () => {
    // 21 MiB + 7 in chunks of odd sizes, so the workers are handed ranges at uneven offsets and the
    // ring (8 MiB) wraps mid-chunk; the 9 MiB chunk is bigger than the whole ring, so update() has
    // to wait for the workers part-way through it.
    const data = randomBytes(21 * MiB + 7);
    const hasher = new OffloadedHasher();
    await feed(hasher, data, [...Array<number>(100).fill(65_537), 9 * MiB, 1, 777_777, 3]);
    expect(await hasher.digests()).toEqual(expected(data));
  });

  it('bodies hashed at the same time each get their own digests', async () => {
    const bodies = [randomBytes(10 * MiB), randomBytes(12 * MiB + 1), Buffer.alloc(9 * MiB, 7)];
    const hashers = bodies.map(() => new OffloadedHasher());
    // Interleaved chunk by chunk, as concurrent uploads reach the workers.
    const offsets = bodies.map(() => 0);
    const step = 300_001;
    while (offsets.some((at, i) => at < (bodies[i] as Buffer).length)) {
      await Promise.all(
        bodies.map(async (body, i) => {
          const at = offsets[i] as number;
          if (at >= body.length) return;
          offsets[i] = at + step;
          await (hashers[i] as Hasher).update(body.subarray(at, at + step));
        }),
      );
    }
    const digests = await Promise.all(hashers.map((h) => h.digests()));
    expect(digests).toEqual(bodies.map(expected));
  });

  it(`hashes at most ${MAX_OFFLOADED} bodies on the workers at once, the others inline`, async () => {
    const before = OffloadedHasher.active;
    const made: Hasher[] = [];
    const make = () => {
      const h = createHasher(OFFLOAD_MIN_BYTES);
      made.push(h);
      return h;
    };
    const busy = Array.from({ length: MAX_OFFLOADED - before }, make);
    expect(busy.every((h) => h instanceof OffloadedHasher)).toBe(true);
    expect(make()).toBeInstanceOf(InlineHasher);
    // Finishing one, or aborting one, makes room for one more.
    await (busy[0] as Hasher).digests();
    expect(make()).toBeInstanceOf(OffloadedHasher);
    expect(make()).toBeInstanceOf(InlineHasher);
    (busy[1] as Hasher).abort();
    expect(make()).toBeInstanceOf(OffloadedHasher);
    for (const h of made) h.abort();
    expect(OffloadedHasher.active).toBe(before);
  });

  it('digests() asked twice answers the same', async () => {
    const data = randomBytes(MiB);
    const hasher = new OffloadedHasher();
    await hasher.update(data);
    const [a, b] = await Promise.all([hasher.digests(), hasher.digests()]);
    expect(a).toEqual(expected(data));
    expect(b).toEqual(a);
    expect(await hasher.digests()).toEqual(a);
  });

  it('an empty body has the digests of no bytes', async () => {
    expect(await new OffloadedHasher().digests()).toEqual(expected(Buffer.alloc(0)));
    expect(await new InlineHasher().digests()).toEqual(expected(Buffer.alloc(0)));
  });

  it('after abort() the hasher refuses more bytes, and the workers go on serving others', async () => {
    const aborted = new OffloadedHasher();
    await aborted.update(randomBytes(3 * MiB));
    aborted.abort();
    await expect(aborted.update(Buffer.from('more'))).rejects.toThrow(/aborted/);
    await expect(aborted.digests()).rejects.toThrow(/aborted/);

    const data = randomBytes(OFFLOAD_MIN_BYTES + 5);
    const next = new OffloadedHasher();
    await feed(next, data, [MiB]);
    expect(await next.digests()).toEqual(expected(data));
  });
});

describe('Meter', () => {
  const sink = () => new Writable({ write: (_c, _e, done) => done() });
  const chunks = (data: Buffer, size: number) =>
    Readable.from(
      Array.from({ length: Math.ceil(data.length / size) }, (_, i) =>
        data.subarray(i * size, (i + 1) * size),
      ),
    );

  it('passes a large body through unchanged, counting and hashing it', async () => {
    const data = randomBytes(OFFLOAD_MIN_BYTES + 12_345);
    const meter = new Meter(data.length, data.length);
    const received: Buffer[] = [];
    await pipeline(
      chunks(data, 64 * 1024),
      meter,
      new Writable({
        write: (c: Buffer, _e, done) => {
          received.push(c);
          done();
        },
      }),
    );
    expect(Buffer.concat(received).equals(data)).toBe(true);
    expect(meter.bytes).toBe(data.length);
    expect(await meter.digests()).toEqual(expected(data));
  });

  it('cuts a large body off at its limit and stops hashing it', async () => {
    const data = randomBytes(OFFLOAD_MIN_BYTES + MiB);
    const meter = new Meter(OFFLOAD_MIN_BYTES, data.length);
    await expect(pipeline(chunks(data, 64 * 1024), meter, sink())).rejects.toBeInstanceOf(LimitExceeded);
    await expect(meter.digests()).rejects.toThrow(/aborted/);
  });
});
