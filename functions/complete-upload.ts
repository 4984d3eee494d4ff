import { httpHandler } from '../shared/http/api';
import { toAttachment } from '../shared/service/attachment';
import { completeUpload } from '../shared/service/direct-upload';

/** POST /v1/uploads/{uploadId}/complete: finalize a direct upload (idempotent). */
export const handler = httpHandler('upload', async (req) => {
  const record = await completeUpload(req.principal, req.params.uploadId ?? '');
  return { status: 200, json: toAttachment(record, req.baseUrl) };
});
