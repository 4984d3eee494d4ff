import { AsyncLocalStorage } from 'node:async_hooks';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { freePort } from './dynamodb-local';
import { addMultipartToS3rver } from './s3rver-multipart';

/**
 * Storage emulators from npm, for `STORAGE_EMULATOR=s3|azure npm start` and for the tests:
 * @20minutes/s3rver (S3 API, in-process) and Azurite (Azure Blob API, a child process).
 */

export interface S3Emulator {
  endpoint: string;
  port: number;
  bucket: string;
  accessKeyId: string;
  accessKeySecret: string;
  stop(): Promise<void>;
}

/**
 * s3rver's fixed credentials. Its in-process server needs OpenSSL's legacy provider (DES) for
 * truncated ListObjectsV2 answers: run the process with --openssl-legacy-provider to list pages.
 */
export const S3RVER_KEY = 'S3RVER';

/** An object s3rver created, as its S3 event notification reports it (key not URL-encoded). */
export interface EmulatedObjectCreated {
  bucket: string;
  key: string;
  size: number;
  /** Without quotes, as in AWS events. */
  eTag?: string;
  /** `ObjectCreated:Put|Post|Copy|CompleteMultipartUpload`, the names AWS uses. */
  eventName: string;
  sourceIp?: string;
}

/** The bucket CORS rule: what a browser page on `origins` needs to upload straight to the bucket. */
function corsConfiguration(origins: string[]): string {
  const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return [
    '<CORSConfiguration><CORSRule>',
    ...origins.map((o) => `<AllowedOrigin>${xml(o)}</AllowedOrigin>`),
    ...['PUT', 'POST', 'GET', 'HEAD'].map((m) => `<AllowedMethod>${m}</AllowedMethod>`),
    '<AllowedHeader>*</AllowedHeader>',
    // Multipart uploads from a browser need each part's ETag to complete the upload.
    '<ExposeHeader>ETag</ExposeHeader>',
    '<MaxAgeSeconds>3600</MaxAgeSeconds>',
    '</CORSRule></CORSConfiguration>',
  ].join('');
}

export async function startS3rver(options: {
  directory: string;
  bucket: string;
  port?: number;
  /**
   * The AWS SDK signs bucket-level paths with a trailing slash that s3rver canonicalizes without,
   * so ListObjectsV2 and DeleteObjects fail its signature check unless the client strips the
   * slash (the tests add a middleware). A server shared with clients built from configuration
   * (npm start, the end-to-end tests) accepts mismatched signatures instead; it still requires
   * the access key.
   */
  allowMismatchedSignatures?: boolean;
  /** Browser origins allowed to PUT/POST/GET/HEAD objects (the bucket's CORS rule, exposing ETag). */
  corsOrigins?: string[];
  /**
   * Called for every object created in any bucket of the emulator (PUT, POST, copy, completed
   * multipart upload), after s3rver stored it. Must not throw; it runs inside the request.
   */
  onObjectCreated?: (created: EmulatedObjectCreated) => void;
}): Promise<S3Emulator> {
  const { default: S3rver } = await import('@20minutes/s3rver');
  addMultipartToS3rver();
  mkdirSync(options.directory, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    port: options.port ?? (await freePort()),
    silent: true,
    directory: options.directory,
    allowMismatchedSignatures: options.allowMismatchedSignatures ?? false,
    configureBuckets: [
      {
        name: options.bucket,
        configs: options.corsOrigins?.length ? [corsConfiguration(options.corsOrigins)] : [],
      },
    ],
  });
  const onObjectCreated = options.onObjectCreated;
  if (onObjectCreated) {
    // The listener runs inside s3rver's request: whatever it does, the stored object stays stored.
    const emit = (created: EmulatedObjectCreated) => {
      try {
        onObjectCreated(created);
      } catch (e) {
        console.error('s3rver object-created listener failed', e);
      }
    };
    // s3rver reports a completed multipart upload as ObjectCreated:Post; the request it runs in
    // (Koa's asyncLocalStorage, enabled here as its constructor option would) tells them apart.
    server.ctxStorage = new AsyncLocalStorage();
    server.on('event', (event) => {
      for (const record of event.Records ?? []) {
        if (!record.eventName?.startsWith('ObjectCreated:')) continue;
        const ctx = server.currentContext;
        const created: EmulatedObjectCreated = {
          bucket: record.s3.bucket.name,
          key: record.s3.object.key,
          size: Number(record.s3.object.size ?? 0),
          eTag: record.s3.object.eTag,
          eventName:
            ctx?.method === 'POST' && ctx.query.uploadId !== undefined
              ? 'ObjectCreated:CompleteMultipartUpload'
              : record.eventName,
          sourceIp: record.requestParameters?.sourceIPAddress,
        };
        if (created.eTag !== undefined) {
          emit(created);
          continue;
        }
        // A copy's event has no ETag in s3rver; AWS's has the object's.
        server.store.getMetadata(created.bucket, created.key).then(
          (metadata) => emit({ ...created, eTag: metadata.etag?.replace(/"/g, '') }),
          () => emit(created),
        );
      }
    });
  }
  const address = await server.run();
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    port: address.port,
    bucket: options.bucket,
    accessKeyId: S3RVER_KEY,
    accessKeySecret: S3RVER_KEY,
    async stop() {
      server.httpServer?.closeAllConnections?.();
      await server.close();
    },
  };
}

export interface AzuriteEmulator {
  /** The blob service URL of the account, e.g. http://127.0.0.1:10000/devstoreaccount1 */
  endpoint: string;
  port: number;
  container: string;
  accountName: string;
  accountKey: string;
  stop(): Promise<void>;
}

/** Azurite's well-known development account. */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** Starts azurite-blob bound to 127.0.0.1 with its data in `location`, and creates the container. */
export async function startAzurite(options: {
  location: string;
  container: string;
  port?: number;
}): Promise<AzuriteEmulator> {
  mkdirSync(options.location, { recursive: true });
  const require = createRequire(import.meta.url);
  const main = join(dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'blob', 'main.js');
  const port = options.port ?? (await freePort());
  const child: ChildProcess = spawn(
    process.execPath,
    [
      main,
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(port),
      '--location',
      options.location,
      // The SDK speaks a newer API version than this Azurite knows; without this every call fails.
      '--skipApiVersionCheck',
      '--disableTelemetry',
      '--silent',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // If this process dies without stopping it, Azurite goes with it.
  const killOnExit = () => child.kill('SIGTERM');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  let output = '';
  const collect = (c: Buffer) => {
    output = (output + c.toString()).slice(-4000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`Azurite did not start in 30 s:\n${output}`));
    }, 30_000);
    const onData = () => {
      if (/successfully listens/i.test(output)) {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve();
      }
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited with ${code}:\n${output}`));
    };
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
  const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  try {
    const { BlobServiceClient, StorageSharedKeyCredential } = await import('@azure/storage-blob');
    const service = new BlobServiceClient(
      endpoint,
      new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
    );
    await service.getContainerClient(options.container).createIfNotExists();
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    endpoint,
    port,
    container: options.container,
    accountName: AZURITE_ACCOUNT,
    accountKey: AZURITE_KEY,
    stop,
  };
}
