import { httpHandler } from '../shared/http/api';
import { revokeLinks } from '../shared/service/links';

/** DELETE /v1/links/{path+}: kills every signed link to the file made so far (the file stays). */
export const handler = httpHandler('upload', async (req) => {
  await revokeLinks(req.principal.tenant, req.storage, req.params.path ?? '');
  return { status: 204 };
});
