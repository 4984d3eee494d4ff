import { uploadQuery } from '../shared/api-schemas';
import { httpHandler } from '../shared/http/api';
import { toAttachment } from '../shared/service/attachment';
import { uploadFile } from '../shared/service/upload';
import { parseExpires, parseMd5, parseOnConflict, parseVisibility } from '../shared/service/validate';

/** PUT /v1/objects/{path+}: uploadByFile with the raw body. */
export const handler = httpHandler('upload', async (req) => {
  const query = req.queryOf(uploadQuery);
  const record = await uploadFile({
    principal: req.principal,
    storage: req.storage,
    path: req.params.path ?? '',
    md5: parseMd5(query.md5),
    expires: parseExpires(query.expires),
    visibility: parseVisibility(query.visibility),
    onConflict: parseOnConflict(query.onConflict),
    contentType: req.header('content-type'),
    size: req.bodyLength(),
    body: req.body(),
  });
  return { status: 201, json: toAttachment(record, req.baseUrl) };
});
