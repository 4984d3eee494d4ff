import { signUploadBody } from '../shared/api-schemas';
import { httpHandler } from '../shared/http/api';
import { signUpload } from '../shared/service/direct-upload';
import { parseExpires, parseMd5, parseOnConflict, parseVisibility } from '../shared/service/validate';

/** POST /v1/uploads: getSignUrl, one presigned request or (large files) a plan of parts. */
export const handler = httpHandler('upload', async (req) => {
  const input = req.json(signUploadBody);
  const signed = await signUpload({
    principal: req.principal,
    storage: req.storage,
    path: input.path,
    contentType: input.contentType,
    size: input.size,
    md5: parseMd5(input.md5),
    expires: parseExpires(input.expires),
    visibility: parseVisibility(input.visibility),
    onConflict: parseOnConflict(input.onConflict),
    multipart: input.multipart,
  });
  return { status: 201, json: signed };
});
