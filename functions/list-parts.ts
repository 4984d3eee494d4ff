import { httpHandler } from '../shared/http/api';
import { listUploadParts } from '../shared/service/direct-upload';

/** GET /v1/uploads/{uploadId}/parts: the plan and the parts stored so far (resume). */
export const handler = httpHandler('upload', async (req) => ({
  status: 200,
  json: await listUploadParts(req.principal, req.params.uploadId ?? ''),
}));
