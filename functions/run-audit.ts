import { auditQuery } from '../shared/api-schemas';
import { httpHandler } from '../shared/http/api';
import { runAudit } from '../shared/service/audit';

/** An API call has under 30 s; the audit stops between tenants before this and hands out a cursor. */
const BUDGET_MS = 20_000;

/**
 * POST /v1/audit?tenant=&repair=true&cursor=: the integrity audit (operators: storage:manage and the operator claim).
 * Without `tenant` it audits every tenant, as many as fit in one call; `cursor` goes on.
 */
export const handler = httpHandler('manage', async (req) => {
  const query = req.queryOf(auditQuery);
  const repair = query.repair === 'true';
  const report = await runAudit(
    { tenant: query.tenant || undefined, cursor: query.cursor || undefined },
    { repair, deadline: Date.now() + BUDGET_MS },
  );
  return { status: 200, json: { repair, ...report } };
});
