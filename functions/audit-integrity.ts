import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger } from '../shared/logger';
import { getAuditCursor, setAuditCursor } from '../shared/metadata/state';
import { loadSecrets } from '../shared/secrets';
import { type AuditReport, runAudit } from '../shared/service/audit';

/** `aws lambda invoke --payload '{"tenant":"acme","repair":true}'`; the schedule sends an EventBridge event. */
interface AuditEvent {
  tenant?: string;
  repair?: boolean;
}

const margin = (remaining: number) => Math.min(30_000, remaining / 5);

/**
 * The integrity audit on a schedule (report only: findings are logged as errors, for an alarm) and
 * on demand (`repair: true` fixes them). A scheduled run that stops at its time budget remembers
 * the last tenant it audited, and the next run goes on from there.
 */
export const handler = middy<AuditEvent, AuditReport, Error, Context>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use({ before: () => loadSecrets() })
  .handler(async (event, context) => {
    const remaining = context.getRemainingTimeInMillis();
    const deadline = Date.now() + remaining - margin(remaining);
    const tenant = typeof event?.tenant === 'string' ? event.tenant : undefined;
    const repair = event?.repair === true;
    const cursor = tenant ? undefined : await getAuditCursor();
    const report = await runAudit({ tenant, cursor }, { repair, deadline });
    if (!tenant) await setAuditCursor(report.complete ? undefined : report.cursor);
    for (const finding of report.findings) logger.error('integrity finding', { ...finding });
    logger.info('audit finished', {
      tenants: report.tenants,
      findings: report.findings.length,
      complete: report.complete,
    });
    return report;
  });
