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
    configureBuckets: [{ name: options.bucket, configs: [] }],
  });
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
