import { listQuery } from '../shared/api-schemas';
import { httpHandler } from '../shared/http/api';
import { toAttachment } from '../shared/service/attachment';
import { listFiles, parseLimit } from '../shared/service/list';

/** GET /v1/objects?prefix=&delimiter=&cursor=&limit=: one page of the caller's files (and folders), in path order. */
export const handler = httpHandler('download', async (req) => {
  const query = req.queryOf(listQuery);
  const page = await listFiles({
    tenant: req.principal.tenant,
    storage: req.storage,
    prefix: query.prefix,
    delimiter: query.delimiter,
    cursor: query.cursor,
    limit: parseLimit(query.limit),
  });
  return {
    status: 200,
    json: {
      items: page.items.map((r) => toAttachment(r, req.baseUrl)),
      ...(page.prefixes ? { prefixes: page.prefixes } : {}),
      cursor: page.cursor,
    },
  };
});
