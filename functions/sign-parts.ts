import { signPartsBody } from '../shared/api-schemas';
import { httpHandler } from '../shared/http/api';
import { signUploadParts } from '../shared/service/direct-upload';

/** POST /v1/uploads/{uploadId}/parts: presigned PUT URLs for a batch of parts (at most 100). */
export const handler = httpHandler('upload', async (req) => ({
  status: 200,
  json: await signUploadParts(req.principal, req.params.uploadId ?? '', req.json(signPartsBody).parts),
}));
