import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { getConfig } from '../../shared/config';
import { ensureTable } from '../../shared/metadata/ensure-table';
import { loadDevSecrets } from './dev-secrets';
import { type DynamoDbLocal, startDynamoDbLocal } from './dynamodb-local';
import { createLocalServer, lambdaContext } from './server';

export interface LocalRuntime {
  url: string;
  port: number;
  dynamoEndpoint: string;
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
  env.STORAGES ||= JSON.stringify({
    'storages.Default': { type: 'local-disk', root: join(dataDir, 'objects') },
  });
  env.MAX_FILE_BYTES ||= String(5 * GiB);
  // One machine has no API Gateway in front: API uploads may be as large as any file.
  env.MAX_API_UPLOAD_BYTES ||= env.MAX_FILE_BYTES;
  env.POWERTOOLS_LOG_LEVEL ||= 'WARN';

  let dynamo: DynamoDbLocal | undefined;
  if (!env.DYNAMODB_ENDPOINT) {
    dynamo = await startDynamoDbLocal({ dbPath: join(dataDir, 'dynamodb') });
    env.DYNAMODB_ENDPOINT = dynamo.endpoint;
  }
  const server = createLocalServer({ port: options.port, jwtSecret: secrets.jwtSecret });
  try {
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(options.port, options.host ?? '127.0.0.1', () => res());
    });
    const port = (server.address() as AddressInfo).port;
    env.PUBLIC_BASE_URL ||= `http://localhost:${port}`;
    const config = getConfig();
    const client = new DynamoDBClient({ region: config.region, endpoint: config.dynamoEndpoint });
    await ensureTable(client, config.tableName);
    client.destroy();

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
      jwtSecret: secrets.jwtSecret,
      async stop() {
        stopped = true;
        clearTimeout(timer);
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
        await dynamo?.stop();
      },
    };
  } catch (e) {
    server.close();
    await dynamo?.stop();
    throw e;
  }
}
