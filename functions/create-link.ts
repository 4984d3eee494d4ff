import { linkBody } from '../shared/api-schemas';
import { httpHandler } from '../shared/http/api';
import { parseThumbnailSpec } from '../shared/images/thumbnail-spec';
import { createLink } from '../shared/service/links';

/** POST /v1/links: a signed, expiring preview, download or thumbnail link to one of the caller's files. */
export const handler = httpHandler('download', async (req) => {
  const { thumbnail, ...input } = req.json(linkBody);
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
