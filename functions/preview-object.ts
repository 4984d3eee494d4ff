import { previewQuery } from '../shared/api-schemas';
import { httpHandler } from '../shared/http/api';
import { serveObject } from '../shared/http/object-response';
import { openPreview } from '../shared/service/links';

/** GET /v1/preview/{tenant}/{path+}: public files need no token, private ones a signed link. */
export const handler = httpHandler(null, async (req) => {
  const query = req.queryOf(previewQuery);
  const { record, backend, disposition } = await openPreview({
    tenant: req.params.tenant ?? '',
    storage: req.storage,
    path: req.params.path ?? '',
    disposition: query.disposition,
    expires: query.expires,
    kid: query.kid,
    signature: query.signature,
  });
  return serveObject(req, record, backend, disposition);
});
