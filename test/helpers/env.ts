import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { inject } from 'vitest';
import { resetStorages } from '../../shared/backends/registry';
import { getConfig, resetConfig } from '../../shared/config';
import { resetDb } from '../../shared/metadata/client';
import { ensureTable } from '../../shared/metadata/ensure-table';
import type { Permission } from '../../shared/routes';
import type { TenantPrincipal } from '../../shared/service/principal';

export interface TestEnv {
  root: string;
  tableName: string;
  /** Re-reads configuration after a change of environment variables. */
  reconfigure(vars: Record<string, string | undefined>): void;
  cleanup(): Promise<void>;
}

/**
 * Points the service at the shared DynamoDB Local with a fresh table and at a fresh temp folder
 * for local disk, the way the Lambda environment would, and resets the per-cold-start caches.
 */
export async function setupTestEnv(vars: Record<string, string> = {}): Promise<TestEnv> {
  const root = mkdtempSync(join(tmpdir(), 'storage-test-'));
  const tableName = `t${randomBytes(6).toString('hex')}`;
  const base: Record<string, string> = {
    DYNAMODB_ENDPOINT: inject('dynamoEndpoint'),
    TABLE_NAME: tableName,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    SIGNING_SECRET: randomBytes(32).toString('hex'),
    PUBLIC_BASE_URL: 'http://localhost:3000',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    STORAGES: JSON.stringify({
      'storages.Default': { type: 'local-disk', root: join(root, 'default') },
      'storages.Other': { type: 'local-disk', root: join(root, 'other') },
    }),
    ...vars,
  };
  const apply = (v: Record<string, string | undefined>) => {
    for (const [k, value] of Object.entries(v)) {
      if (value === undefined) delete process.env[k];
      else process.env[k] = value;
    }
    resetConfig();
    resetStorages();
    resetDb();
  };
  apply(base);
  const client = new DynamoDBClient({ region: 'us-east-1', endpoint: getConfig().dynamoEndpoint });
  await ensureTable(client, tableName);
  client.destroy();
  return {
    root,
    tableName,
    reconfigure: apply,
    async cleanup() {
      resetDb();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** A tenant member, as the service sees one (the calls of an operator take no principal). */
export function principal(
  tenant: string,
  permissions: Permission[] = ['upload', 'download', 'delete'],
): TenantPrincipal {
  return { tenant, userId: `user-of-${tenant}`, permissions: new Set(permissions) };
}
