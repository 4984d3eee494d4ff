import { Transform, type TransformCallback } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import type { StorageBackend } from '../backends/contract';
import { getConfig } from '../config';
import { AppError } from '../errors';
import { fileTypeOf } from '../file-type';
import { assertTypeAllowed } from './validate';

/** What file-type reads of a file to know its type. */
const HEAD_BYTES = 4100;

/** A pass-through that keeps the first bytes of a stream, for the type check after it. */
export class HeadTap extends Transform {
  private chunks: Buffer[] = [];
  private kept = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.kept < HEAD_BYTES) {
      const part = chunk.subarray(0, HEAD_BYTES - this.kept);
      this.chunks.push(part);
      this.kept += part.length;
    }
    done(null, chunk);
  }

  head(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** Whether types are restricted at all: with the default `*\/*` nothing needs sniffing. */
export const typesRestricted = () => !getConfig().allowedContentTypes.includes('*/*');

/**
 * The first bytes of a stored object, by a ranged read, for a finalize that does not read the
 * whole object; nothing (no request) when types are not restricted or the object is empty.
 */
export async function readHead(backend: StorageBackend, key: string, size: number): Promise<Buffer> {
  if (!typesRestricted() || size === 0) return Buffer.alloc(0);
  const { body } = await backend.get(key, { start: 0, end: Math.min(size, HEAD_BYTES) - 1 });
  return (await buffer(body)).subarray(0, HEAD_BYTES);
}

/**
 * The declared type was checked when the upload was signed; the bytes may say otherwise (a PDF
 * sent as image/png). A type the magic bytes reveal must be allowed too (415 otherwise). Text
 * formats have no magic bytes: for them the declared type stands.
 */
export async function assertBytesAllowed(head: Buffer): Promise<void> {
  if (!typesRestricted() || head.length === 0) return;
  const sniffed = (await fileTypeOf(head))?.mime;
  if (!sniffed) return;
  try {
    assertTypeAllowed(sniffed);
  } catch {
    throw new AppError('UNSUPPORTED_MEDIA_TYPE', `The bytes are ${sniffed}, which is not an allowed type`);
  }
}
