import { recalculateQuery } from '../shared/api-schemas';
import { AppError } from '../shared/errors';
import { httpHandler } from '../shared/http/api';
import { recalculateUsage } from '../shared/service/usage';

/** POST /v1/usage/recalculate?tenant=: recompute a tenant's counters from the records (operators). */
export const handler = httpHandler('manage', async (req) => {
  const tenant = req.queryOf(recalculateQuery).tenant || req.principal.tenant;
  if (!tenant) throw new AppError('INVALID_REQUEST', 'tenant: name the tenant to recalculate (?tenant=)');
  return { status: 200, json: await recalculateUsage(tenant) };
});
