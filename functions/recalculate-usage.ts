import { httpHandler } from '../shared/http/api';
import { recalculateUsage } from '../shared/service/usage';

/** POST /v1/usage/recalculate?tenant=: recompute counters from the records (the caller's tenant by default). */
export const handler = httpHandler('manage', async (req) => ({
  status: 200,
  json: await recalculateUsage(req.query.tenant || req.principal.tenant),
}));
