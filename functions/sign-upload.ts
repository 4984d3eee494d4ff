import { httpHandler } from '../shared/http/api';
import { signUpload } from '../shared/service/direct-upload';
import { parseExpires, parseMd5, parseOnConflict, parseVisibility } from '../shared/service/validate';
import * as z from '../shared/zod';

const body = z.object({
  path: z.string(),
  contentType: z.optional(z.string()),
  size: z.number().check(z.int(), z.nonnegative()),
  md5: z.optional(z.string()),
  expires: z.optional(z.union([z.number(), z.string()])),
  visibility: z.optional(z.string()),
  onConflict: z.optional(z.string()),
  multipart: z.optional(z.boolean()),
});

/** POST /v1/uploads: getSignUrl, one presigned request or (large files) a plan of parts. */
export const handler = httpHandler('upload', async (req) => {
  const input = req.json(body);
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
