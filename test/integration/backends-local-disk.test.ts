import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalServer } from '../../infra/local/server';
import { getStorage, resetStorages } from '../../shared/backends/registry';
import { resetConfig } from '../../shared/config';
import { describeBackendContract } from './backend-contract';

/**
 * Local disk in a temp folder. Its upload URLs are signed by the service and accepted by the local
 * server's /_local/upload route, so the real server runs here too, over the instance the registry
 * builds from configuration.
 */
describeBackendContract('local-disk', async () => {
  const root = mkdtempSync(join(tmpdir(), 'contract-local-'));
  const server = createLocalServer({ port: 0, jwtSecret: randomBytes(32).toString('hex') });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  Object.assign(process.env, {
    SIGNING_SECRET: randomBytes(32).toString('hex'),
    PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    STORAGES: JSON.stringify({ 'storages.Default': { type: 'local-disk', root } }),
  });
  resetConfig();
  resetStorages();
  return {
    backend: getStorage('storages.Default'),
    checks: { uploadSignature: true, downloadSignature: false, expiry: true },
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      rmSync(root, { recursive: true, force: true });
    },
  };
});
