import { httpHandler } from '../shared/http/api';
import { toAttachment } from '../shared/service/attachment';
import { uploadStatus } from '../shared/service/direct-upload';

/** GET /v1/uploads/{uploadId}: PENDING (with the plan) or READY (with the file). */
export const handler = httpHandler('upload', async (req) => {
  const status = await uploadStatus(req.principal, req.params.uploadId ?? '');
  return {
    status: 200,
    json: 'file' in status ? { ...status, file: toAttachment(status.file, req.baseUrl) } : status,
  };
});
