import * as z from 'zod';
import { httpHandler } from '../shared/http/api';
import { createLink } from '../shared/service/read';

const body = z.object({
  path: z.string(),
  disposition: z.enum(['inline', 'attachment']).default('inline'),
  expiresIn: z.number().optional(),
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
