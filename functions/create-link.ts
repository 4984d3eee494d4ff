import { httpHandler } from '../shared/http/api';
import { parseThumbnailSpec } from '../shared/images/thumbnail-spec';
import { createLink } from '../shared/service/links';
import * as z from '../shared/zod';

const body = z.object({
  path: z.string(),
  disposition: z._default(z.enum(['inline', 'attachment']), 'inline'),
  expiresIn: z.optional(z.number()),
  /** A thumbnail link instead of a preview: these parameters (defaults for those left out), and no others. */
  thumbnail: z.optional(
    z.object({
      width: z.optional(z.number()),
      height: z.optional(z.number()),
      fit: z.optional(z.string()),
      format: z.optional(z.string()),
      quality: z.optional(z.number()),
    }),
  ),
});

/** POST /v1/links: a signed, expiring preview, download or thumbnail link to one of the caller's files. */
export const handler = httpHandler('download', async (req) => {
  const { thumbnail, ...input } = req.json(body);
  const link = await createLink({
    ...input,
    thumbnail: thumbnail
      ? parseThumbnailSpec(
          Object.fromEntries(
            Object.entries(thumbnail).flatMap(([name, value]) =>
              value === undefined ? [] : [[name, String(value)]],
            ),
          ),
        )
      : undefined,
    tenant: req.principal.tenant,
    storage: req.storage,
    baseUrl: req.baseUrl,
  });
  return { status: 201, json: link };
});
