import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { logger } from '../shared/logger';
import { loadSecrets } from '../shared/secrets';
import { sweepExpired } from '../shared/service/sweep';

/** Safety margin so the function returns before Lambda stops it: 10 s, or a fifth of a short budget. */
const margin = (remaining: number) => Math.min(10_000, remaining / 5);

/** EventBridge schedule: remove expired files and abandoned uploads, within the time budget. */
export const handler = middy<ScheduledEvent, Awaited<ReturnType<typeof sweepExpired>>, Error, Context>()
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use({ before: () => loadSecrets() })
  .handler(async (_event, context) => {
    const remaining = context.getRemainingTimeInMillis();
    const result = await sweepExpired({ deadline: Date.now() + remaining - margin(remaining) });
    logger.info('sweep finished', { ...result });
    return result;
  });
