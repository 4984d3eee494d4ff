import { httpHandler } from '../shared/http/api';
import { createLink } from '../shared/service/links';
import * as z from '../shared/zod';

const body = z.object({
  path: z.string(),
  disposition: z._default(z.enum(['inline', 'attachment']), 'inline'),
  expiresIn: z.optional(z.number()),
});

/** POST /v1/links: a signed, expiring preview or download link to one of the caller's files. */
export const handler = httpHandler('download', async (req) => {
  const input = req.json(body);
  const link = await createLink({
    ...input,
    tenant: req.principal.tenant,
    storage: req.storage,
    baseUrl: req.baseUrl,
  });
  return { status: 201, json: link };
});
