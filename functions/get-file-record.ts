import { httpHandler } from '../shared/http/api';
import { toAttachment } from '../shared/service/attachment';
import { findFile } from '../shared/service/read';

/** GET /v1/meta/{path+}: getObject, the file record in the attachment format. */
export const handler = httpHandler('download', async (req) => {
  const { record } = await findFile(req.principal.tenant, req.storage, req.params.path);
  return { status: 200, json: toAttachment(record, req.baseUrl) };
});
