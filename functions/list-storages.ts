import { listStorages } from '../shared/backends/registry';
import { httpHandler } from '../shared/http/api';

/** GET /v1/storages: the configured instances with their capabilities (never their settings). */
export const handler = httpHandler('download', async () => ({
  status: 200,
  json: { storages: listStorages() },
}));
