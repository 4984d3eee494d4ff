import { httpHandler } from '../shared/http/api';
import { deleteFile } from '../shared/service/remove';

/** DELETE /v1/objects/{path+}: 204, also when the file is already gone. */
export const handler = httpHandler('delete', async (req) => {
  await deleteFile(req.principal.tenant, req.storage, req.params.path);
  return { status: 204 };
});
