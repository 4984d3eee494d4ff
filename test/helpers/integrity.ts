import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { S3Event } from 'aws-lambda';
import { findFile } from '../../shared/service/read';

/** A point where a test holds one side of a race until it lets it go. */
export interface Gate {
  /** Resolves when something reached the gate. */
  reached: Promise<void>;
  /** Lets whatever waits at the gate go on. */
  open(): void;
  /** What the held side awaits (resolves on open, or after `maxMs`). */
  wait(): Promise<void>;
}

export function gate(maxMs = 60_000): Gate {
  let arrive!: () => void;
  let release!: () => void;
  const reached = new Promise<void>((r) => {
    arrive = r;
  });
  const opened = new Promise<void>((r) => {
    release = r;
  });
  return {
    reached,
    open: () => release(),
    wait: () => {
      arrive();
      return Promise.race([opened, new Promise<void>((r) => setTimeout(r, maxMs))]);
    },
  };
}

/**
 * A body that sends `pauseAfter` bytes of `data`, then waits at the gate, then sends the rest: a
 * client that is still uploading while the test changes the world around it.
 */
export function pausedBody(data: Buffer, pauseAfter: number, at: Gate): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (sent) return;
      sent = true;
      this.push(data.subarray(0, pauseAfter));
      void at.wait().then(() => {
        this.push(data.subarray(pauseAfter));
        this.push(null);
      });
    },
  });
}

/** The bytes a reader of the file gets (through the record's backend key), or the error code. */
export async function readFileBytes(
  tenant: string,
  path: string,
  storage?: string,
): Promise<Buffer | string> {
  try {
    const { record, backend } = await findFile(tenant, storage, path);
    const { body } = await backend.get(record.key);
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  } catch (e) {
    return (e as { code?: string; kind?: string }).code ?? (e as { kind?: string }).kind ?? String(e);
  }
}

/** The sample notification of events/, pointed at other keys (S3 URL-encodes them, spaces as `+`). */
export function s3Event(...keys: string[]): S3Event {
  const sample = JSON.parse(
    readFileSync(new URL('../../events/on-object-created.json', import.meta.url), 'utf8'),
  ) as S3Event;
  const template = sample.Records[0] as S3Event['Records'][number];
  return {
    Records: keys.map((key) => {
      const record = structuredClone(template);
      record.s3.object.key = encodeURIComponent(key).replaceAll('%2F', '/').replaceAll('%20', '+');
      return record;
    }),
  };
}
