import { httpHandler } from '../shared/http/api';
import { serveObject } from '../shared/http/object-response';
import { findFile } from '../shared/service/read';

/** GET /v1/objects/{path+}: download as an attachment (Range, If-None-Match). */
export const handler = httpHandler('download', async (req) => {
  const { record, backend } = await findFile(req.principal.tenant, req.storage, req.params.path);
  return serveObject(req, record, backend, 'attachment');
});
