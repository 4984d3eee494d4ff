import { httpHandler } from '../shared/http/api';
import { getUsage } from '../shared/service/usage';

/** GET /v1/usage: the caller's tenant counters. */
export const handler = httpHandler('download', async (req) => ({
  status: 200,
  json: await getUsage(req.principal.tenant),
}));
