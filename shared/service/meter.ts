import { Transform, type TransformCallback } from 'node:stream';
import { createHasher, type Digests, type Hasher } from './hasher';

/** Thrown inside the stream when more bytes arrive than were allowed. */
export class LimitExceeded extends Error {
  override name = 'LimitExceeded';
}

/**
 * Asked for a higher limit when `needed` bytes have arrived: resolves with the new limit (at
 * least `needed`), or rejects with the error that ends the upload.
 */
export type Grow = (needed: number) => Promise<number>;

/**
 * A pass-through that counts bytes and computes md5 and sha256 while the body streams to the
 * backend, and stops the stream as soon as it exceeds `limit`, so nothing is buffered and an
 * oversize body is cut off instead of being stored. With `grow`, the limit is raised as the body
 * goes on (a body of unknown length reserves quota as it arrives). `sizeHint` (the declared length)
 * lets a large body hash on two cores.
 */
export class Meter extends Transform {
  bytes = 0;
  private readonly hasher: Hasher;

  constructor(
    private limit: number,
    sizeHint?: number,
    private readonly grow?: Grow,
  ) {
    super({ highWaterMark: 1024 * 1024 });
    this.hasher = createHasher(sizeHint);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes <= this.limit) {
      this.pass(chunk, done);
      return;
    }
    if (!this.grow) {
      done(new LimitExceeded(`more than ${this.limit} bytes`));
      return;
    }
    this.grow(this.bytes).then((limit) => {
      this.limit = limit;
      if (this.bytes > limit) done(new LimitExceeded(`more than ${limit} bytes`));
      else this.pass(chunk, done);
    }, done);
  }

  private pass(chunk: Buffer, done: TransformCallback): void {
    const hashing = this.hasher.update(chunk);
    if (!hashing) {
      done(null, chunk);
      return;
    }
    // The bytes may go on while the hasher catches up; the next chunk waits for it.
    this.push(chunk);
    hashing.then(() => done(), done);
  }

  override _destroy(error: Error | null, done: (error: Error | null) => void): void {
    if (error) this.hasher.abort();
    done(error);
  }

  digests(): Promise<Digests> {
    return this.hasher.digests();
  }
}
