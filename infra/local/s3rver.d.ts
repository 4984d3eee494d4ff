/** The parts of @20minutes/s3rver (which ships no types) that this project uses. */
declare module '@20minutes/s3rver' {
  import type { AsyncLocalStorage } from 'node:async_hooks';
  import type { Server } from 'node:http';
  import type { AddressInfo } from 'node:net';

  interface S3rverOptions {
    address?: string;
    port?: number;
    silent?: boolean;
    directory?: string;
    resetOnClose?: boolean;
    allowMismatchedSignatures?: boolean;
    vhostBuckets?: boolean;
    configureBuckets?: { name: string; configs?: (string | Buffer)[] }[];
  }

  /** One record of the notification s3rver emits (lib/models/event.js): AWS-like, not AWS-exact. */
  export interface S3rverEventRecord {
    eventName: string;
    requestParameters?: { sourceIPAddress?: string };
    s3: {
      bucket: { name: string };
      /** The key as stored, not URL-encoded; eTag without quotes; Copy events have no eTag. */
      object: { key: string; size?: number; eTag?: string };
    };
  }

  /** The Koa context of the request being handled (the part used here). */
  export interface S3rverContext {
    method: string;
    query: Record<string, string | string[] | undefined>;
  }

  export default class S3rver {
    constructor(options?: S3rverOptions);
    httpServer?: Server;
    /** Koa's: when set before run(), every request runs inside it (Koa's `asyncLocalStorage` option). */
    ctxStorage?: AsyncLocalStorage<S3rverContext>;
    /** Koa's: the context of the request the caller runs in, when ctxStorage is set. */
    readonly currentContext: S3rverContext | undefined;
    store: {
      getMetadata(bucket: string, key: string): Promise<Record<string, string>>;
    };
    /** Emitted synchronously inside the request, after an object was written or deleted. */
    on(event: 'event', listener: (event: { Records: S3rverEventRecord[] }) => void): this;
    run(): Promise<AddressInfo>;
    close(): Promise<void>;
    reset(): void;
  }
}
