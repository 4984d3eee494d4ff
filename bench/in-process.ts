import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type DynamoDbLocal, startDynamoDbLocal } from '../infra/local/dynamodb-local';
import { resetStorages } from '../shared/backends/registry';
import { getConfig, resetConfig } from '../shared/config';
import { resetDb } from '../shared/metadata/client';
import { ensureTable } from '../shared/metadata/ensure-table';
import { benchTempDir } from './report';

/**
 * Benchmarks that call the service in this process (no HTTP server): the environment a Lambda
 * gets, with DynamoDB Local and local disk in a temp folder.
 */

/** Sets the variables the Lambda would get; returns a function that puts the old values back. */
export function applyEnv(vars: Record<string, string>): () => void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  const reset = () => {
    resetConfig();
    resetStorages();
    resetDb();
  };
  reset();
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    reset();
  };
}

export interface InProcessService {
  dynamo: DynamoDbLocal;
  /** The local-disk storage's folder. */
  root: string;
  /** Sets more variables (and resets the per-cold-start caches). */
  reconfigure(vars: Record<string, string>): void;
  stop(): Promise<void>;
}

/** DynamoDB Local, a table and a local-disk storage, with the service configured to use them. */
export async function startInProcessService(
  prefix: string,
  table: string,
  vars: Record<string, string> = {},
): Promise<InProcessService> {
  const temp = benchTempDir(prefix);
  const root = join(temp.path, 'objects');
  const dynamo = await startDynamoDbLocal();
  const base = {
    DYNAMODB_ENDPOINT: dynamo.endpoint,
    TABLE_NAME: table,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    SIGNING_SECRET: randomBytes(32).toString('hex'),
    PUBLIC_BASE_URL: 'http://localhost:3000',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    THUMBNAIL_EAGER_SIZES: '',
    STORAGES: JSON.stringify({ 'storages.Default': { type: 'local-disk', root } }),
    ...vars,
  };
  const restores = [applyEnv(base)];
  const client = new DynamoDBClient({ region: 'us-east-1', endpoint: dynamo.endpoint });
  await ensureTable(client, getConfig().tableName);
  client.destroy();
  return {
    dynamo,
    root,
    reconfigure: (more) => restores.push(applyEnv(more)),
    async stop() {
      for (const restore of restores.reverse()) restore();
      await dynamo.stop();
      temp.remove();
    },
  };
}
