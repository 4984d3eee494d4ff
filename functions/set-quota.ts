import { quotaBody } from '../shared/api-schemas';
import { httpHandler } from '../shared/http/api';
import { setQuota } from '../shared/service/usage';

/** PUT /v1/quota/{tenant}: set a tenant's limit (operators: storage:manage and the operator claim). */
export const handler = httpHandler('manage', async (req) => ({
  status: 200,
  json: await setQuota(req.params.tenant ?? '', req.json(quotaBody).limitBytes),
}));
