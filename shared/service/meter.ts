import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/** Thrown inside the stream when more bytes arrive than were allowed. */
export class LimitExceeded extends Error {
  override name = 'LimitExceeded';
}

/**
 * A pass-through that counts bytes and computes md5 and sha256 while the body streams to the
 * backend, and stops the stream as soon as it exceeds `limit`, so nothing is buffered and an
 * oversize body is cut off instead of being stored.
 */
export class Meter extends Transform {
  bytes = 0;
  private readonly md5 = createHash('md5');
  private readonly sha256 = createHash('sha256');

  constructor(private readonly limit: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      done(new LimitExceeded(`more than ${this.limit} bytes`));
      return;
    }
    this.md5.update(chunk);
    this.sha256.update(chunk);
    done(null, chunk);
  }

  digests(): { md5: string; sha256: string } {
    return { md5: this.md5.digest('hex'), sha256: this.sha256.digest('hex') };
  }
}
