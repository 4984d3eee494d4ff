import { completeBody } from '../shared/api-schemas';
import { httpHandler } from '../shared/http/api';
import { toAttachment } from '../shared/service/attachment';
import { completeUpload } from '../shared/service/direct-upload';

/**
 * POST /v1/uploads/{uploadId}/complete: finalize a direct upload (multipart: with its part list).
 * 200 with the file; 202 VERIFYING when a large object is checked asynchronously (poll
 * GET /v1/uploads/{uploadId}). Idempotent.
 */
export const handler = httpHandler('upload', async (req) => {
  // A single upload completes without a body.
  const parts = req.bodyLength() ? req.json(completeBody).parts : undefined;
  const uploadId = req.params.uploadId ?? '';
  const outcome = await completeUpload(req.principal, uploadId, parts);
  if ('verifying' in outcome) return { status: 202, json: { uploadId, status: 'VERIFYING' } };
  return { status: 200, json: toAttachment(outcome.record, req.baseUrl) };
});
