import { httpHandler } from '../shared/http/api';
import { serveObject } from '../shared/http/object-response';
import { openPreview } from '../shared/service/links';

/** GET /v1/preview/{tenant}/{path+}: public files need no token, private ones a signed link. */
export const handler = httpHandler(null, async (req) => {
  const { record, backend, disposition } = await openPreview({
    tenant: req.params.tenant ?? '',
    storage: req.storage,
    path: req.params.path ?? '',
    disposition: req.query.disposition,
    expires: req.query.expires,
    kid: req.query.kid,
    signature: req.query.signature,
  });
  return serveObject(req, record, backend, disposition);
});
