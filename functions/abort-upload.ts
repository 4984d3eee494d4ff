import { httpHandler } from '../shared/http/api';
import { abortUpload } from '../shared/service/direct-upload';

/** DELETE /v1/uploads/{uploadId}: abort a direct upload; the reservation and its parts go (idempotent). */
export const handler = httpHandler('upload', async (req) => {
  await abortUpload(req.principal, req.params.uploadId ?? '');
  return { status: 204 };
});
