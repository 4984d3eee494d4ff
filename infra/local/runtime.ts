import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { getConfig } from '../../shared/config';
import { ensureTable } from '../../shared/metadata/ensure-table';
import { backgroundSettled } from '../../shared/service/background';
import { NOTIFIED_PREFIXES } from '../../shared/service/keys';
import { startBackgroundThumbnails } from './background-thumbnails';
import { loadDevSecrets } from './dev-secrets';
import { type DynamoDbLocal, startDynamoDbLocal } from './dynamodb-local';
import { startAzurite, startS3rver } from './emulators';
import { createObjectCreatedBridge } from './s3-notifications';
import { createLocalServer, lambdaContext } from './server';
import { LOCAL_OPERATOR_CLAIM } from './tokens';

export interface LocalRuntime {
  url: string;
  port: number;
  dynamoEndpoint: string;
  /** The storage emulator started for STORAGE_EMULATOR, if any (bucket: its bucket or container). */
  emulator?: { kind: 's3' | 'azure'; endpoint: string; storage: string; bucket: string };
  jwtSecret: string;
  stop(): Promise<void>;
}

const GiB = 1024 ** 3;

/**
 * The one-machine runtime: DynamoDB Local (persisted in DATA_DIR), the table, the local-disk
 * storage, the HTTP server over the route table, and a timer that runs the sweeper. It sets the
 * same environment variables the Lambda functions get in AWS, with local defaults.
 */
export async function startLocalRuntime(options: {
  dataDir: string;
  port: number;
  host?: string;
  sweepIntervalSeconds?: number;
}): Promise<LocalRuntime> {
  const dataDir = resolve(options.dataDir);
  mkdirSync(join(dataDir, 'dynamodb'), { recursive: true });
  const secrets = loadDevSecrets(dataDir);
  const env = process.env;
  env.TABLE_NAME ||= 'storage-files';
  env.AWS_REGION ||= 'us-east-1';
  // DynamoDB Local accepts any credentials, but only letters and digits in the key id.
  env.AWS_ACCESS_KEY_ID ||= 'local';
  env.AWS_SECRET_ACCESS_KEY ||= 'local';
  env.SIGNING_SECRET ||= secrets.signingSecret;
  // The operator identity `npm run token -- --operator` signs into its tokens.
  env.OPERATOR_CLAIM ||= LOCAL_OPERATOR_CLAIM;
  // This process outlives a request: it finishes the finalizes complete hands off (large uploads).
  env.BACKGROUND_FINALIZE ||= 'true';
  // ... and renders the eager thumbnail sizes of every image upload (render-thumbnails in AWS).
  env.BACKGROUND_THUMBNAILS ||= 'true';
  env.STORAGES ||= JSON.stringify({
    'storages.Default': { type: 'local-disk', root: join(dataDir, 'objects') },
  });
  const emulator = await startStorageEmulator(env, dataDir, options.port);
  env.MAX_FILE_BYTES ||= String(5 * GiB);
  // One machine has no API Gateway in front: API uploads may be as large as any file.
  env.MAX_API_UPLOAD_BYTES ||= env.MAX_FILE_BYTES;
  env.POWERTOOLS_LOG_LEVEL ||= 'WARN';

  let dynamo: DynamoDbLocal | undefined;
  let server: ReturnType<typeof createLocalServer> | undefined;
  try {
    if (!env.DYNAMODB_ENDPOINT) {
      dynamo = await startDynamoDbLocal({ dbPath: join(dataDir, 'dynamodb') });
      env.DYNAMODB_ENDPOINT = dynamo.endpoint;
    }
    server = createLocalServer({
      port: options.port,
      jwtSecret: secrets.jwtSecret,
      // The file browser, built on its first request (DATA_DIR is this runtime's own folder).
      uiDir: join(dataDir, 'ui'),
    });
    const http = server;
    await new Promise<void>((res, rej) => {
      http.once('error', rej);
      http.listen(options.port, options.host ?? '127.0.0.1', () => res());
    });
    const port = (http.address() as AddressInfo).port;
    env.PUBLIC_BASE_URL ||= `http://localhost:${port}`;
    const config = getConfig();
    const client = new DynamoDBClient({ region: config.region, endpoint: config.dynamoEndpoint });
    await ensureTable(client, config.tableName);
    client.destroy();

    const thumbnails = config.thumbnails.background ? startBackgroundThumbnails() : undefined;
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const interval = (options.sweepIntervalSeconds ?? 60) * 1000;
    const sweep = async () => {
      try {
        const { handler } = await import('../../functions/sweep-expired');
        await handler({} as never, lambdaContext('sweep-expired', Math.min(interval, 5 * 60_000)));
      } catch (e) {
        console.error('sweep failed', e);
      }
      if (!stopped) timer = setTimeout(sweep, interval);
    };
    if (interval > 0) timer = setTimeout(sweep, interval);

    return {
      url: `http://127.0.0.1:${port}`,
      port,
      dynamoEndpoint: config.dynamoEndpoint as string,
      emulator: emulator && {
        kind: emulator.kind,
        endpoint: emulator.endpoint,
        storage: emulator.storage,
        bucket: emulator.bucket,
      },
      jwtSecret: secrets.jwtSecret,
      async stop() {
        stopped = true;
        clearTimeout(timer);
        http.closeAllConnections();
        await new Promise((r) => http.close(r));
        thumbnails?.stop();
        // Renders and writes requests started and did not wait for (thumbnails kept after their answer).
        await backgroundSettled();
        // Invocations still running need the table; pending retries are dropped.
        await emulator?.stopEvents();
        await dynamo?.stop();
        await emulator?.stop();
      },
    };
  } catch (e) {
    server?.close();
    await emulator?.stopEvents();
    await dynamo?.stop();
    await emulator?.stop();
    throw e;
  }
}

/**
 * STORAGE_EMULATOR=s3|azure: starts s3rver (in this process) or Azurite (a child process) with its
 * data in DATA_DIR, adds an instance for it to STORAGES and makes it the default storage unless
 * DEFAULT_STORAGE says otherwise. The cloud code paths (presigned uploads, 302 downloads) then run
 * on one machine. Without the variable nothing changes. The S3 emulator's bucket also does what
 * the stack's bucket does: its ObjectCreated events under the staging prefix run
 * on-object-created, and its CORS rule lets pages of this server upload to it (exposing ETag).
 */
async function startStorageEmulator(env: NodeJS.ProcessEnv, dataDir: string, serverPort: number) {
  const kind = env.STORAGE_EMULATOR;
  if (!kind) return undefined;
  if (kind !== 's3' && kind !== 'azure') {
    throw new Error(`STORAGE_EMULATOR must be "s3" or "azure", not "${kind}"`);
  }
  let storages: Record<string, unknown>;
  try {
    storages = JSON.parse(env.STORAGES ?? '{}') as Record<string, unknown>;
  } catch {
    throw new Error('Invalid configuration: STORAGES is not valid JSON');
  }
  const port = env.STORAGE_EMULATOR_PORT ? Number(env.STORAGE_EMULATOR_PORT) : undefined;
  let started: { endpoint: string; stop(): Promise<void> };
  let storage: string;
  let bucket: string;
  let stopEvents = async () => {};
  if (kind === 's3') {
    bucket = 'local-files';
    const region = 'us-east-1';
    // The stack's notifications: ObjectCreated on the staging and assembled prefixes only.
    const events = createObjectCreatedBridge({ bucket, prefixes: NOTIFIED_PREFIXES, region });
    stopEvents = () => events.stop();
    // The adapter is built from configuration, without the test-only fix for s3rver's bucket-path
    // signatures: this emulator accepts mismatched signatures (it still wants its access key).
    const s3 = await startS3rver({
      directory: join(dataDir, 's3rver'),
      bucket,
      port,
      allowMismatchedSignatures: true,
      corsOrigins: localOrigins(env, serverPort),
      onObjectCreated: (created) => void events.deliver(created),
    });
    storage = 'storages.S3Emulator';
    storages[storage] = {
      type: 's3',
      bucketName: s3.bucket,
      region,
      endPoint: s3.endpoint,
      allowHttp: true, // the emulator on this machine
      accessKeyId: s3.accessKeyId,
      accessKeySecret: s3.accessKeySecret,
      pathStyle: true,
    };
    started = s3;
  } else {
    const azurite = await startAzurite({
      location: join(dataDir, 'azurite'),
      container: 'local-files',
      port,
    });
    storage = 'storages.AzureEmulator';
    bucket = azurite.container;
    storages[storage] = {
      type: 'azure-blob',
      accessKeyId: azurite.accountName,
      accessKeySecret: azurite.accountKey,
      bucketName: azurite.container,
      endPoint: azurite.endpoint,
      allowHttp: true,
    };
    started = azurite;
  }
  env.STORAGES = JSON.stringify(storages);
  env.DEFAULT_STORAGE ||= storage;
  return {
    kind: kind as 's3' | 'azure',
    storage,
    bucket,
    endpoint: started.endpoint,
    stopEvents,
    stop: () => started.stop(),
  };
}

/**
 * Where the pages of this server come from: PUBLIC_BASE_URL if set, and localhost / 127.0.0.1 on
 * its port (the port is not known yet when it is 0: then any port of theirs).
 */
function localOrigins(env: NodeJS.ProcessEnv, port: number): string[] {
  const origins = new Set<string>();
  if (env.PUBLIC_BASE_URL) {
    try {
      origins.add(new URL(env.PUBLIC_BASE_URL).origin);
    } catch {
      // getConfig() reports the invalid URL.
    }
  }
  for (const host of ['localhost', '127.0.0.1']) origins.add(`http://${host}:${port || '*'}`);
  return [...origins];
}
