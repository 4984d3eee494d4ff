import { httpHandler } from '../shared/http/api';
import { readMultipartFile } from '../shared/http/multipart';
import { toAttachment } from '../shared/service/attachment';
import { uploadFile } from '../shared/service/upload';
import { parseExpires, parseMd5, parseOnConflict, parseVisibility } from '../shared/service/validate';

/** POST /v1/objects: upload from a multipart form (fields path, md5, expires, visibility, onConflict, then file). */
export const handler = httpHandler('upload', async (req) => {
  const form = await readMultipartFile(req);
  const record = await uploadFile({
    principal: req.principal,
    storage: req.storage ?? form.fields.storage,
    path: form.fields.path || form.fileName,
    md5: parseMd5(form.fields.md5),
    expires: parseExpires(form.fields.expires),
    visibility: parseVisibility(form.fields.visibility),
    onConflict: parseOnConflict(form.fields.onConflict),
    contentType: form.fields.contentType || form.mimeType,
    body: form.stream,
    sizeHint: req.bodyLength(),
  });
  return { status: 201, json: toAttachment(record, req.baseUrl) };
});
