import { thumbnailQuery } from '../shared/api-schemas';
import { httpHandler } from '../shared/http/api';
import { serveThumbnail } from '../shared/http/thumbnail-response';
import { parseThumbnailSpec } from '../shared/images/thumbnail-spec';
import { openThumbnail } from '../shared/service/thumbnails';

/**
 * GET /v1/thumbnails/{tenant}/{path+}: previewThumbnail. width, height, fit, format, quality;
 * public files need no token, private ones a link signed for exactly those parameters.
 */
export const handler = httpHandler(null, async (req) => {
  const query = req.queryOf(thumbnailQuery);
  const thumbnail = await openThumbnail({
    access: {
      tenant: req.params.tenant ?? '',
      storage: req.storage,
      path: req.params.path ?? '',
      expires: query.expires,
      kid: query.kid,
      signature: query.signature,
    },
    spec: parseThumbnailSpec(query),
    accept: req.header('accept'),
  });
  return serveThumbnail(req, thumbnail);
});
