import { httpHandler } from '../shared/http/api';
import { signUploadParts } from '../shared/service/direct-upload';
import * as z from '../shared/zod';

const body = z.object({ parts: z.array(z.number()) });

/** POST /v1/uploads/{uploadId}/parts: presigned PUT URLs for a batch of parts (at most 100). */
export const handler = httpHandler('upload', async (req) => ({
  status: 200,
  json: await signUploadParts(req.principal, req.params.uploadId ?? '', req.json(body).parts),
}));
