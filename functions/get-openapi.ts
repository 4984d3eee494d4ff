import { httpHandler } from '../shared/http/api';
import { openApiDocument } from '../shared/openapi';

/** One document per base URL the function is reached at (usually one), built once per cold start. */
const documents = new Map<string, Record<string, unknown>>();

/** GET /v1/openapi.json: the OpenAPI 3.1 document, generated from the route table and its schemas. */
export const handler = httpHandler(null, async (req) => {
  let document = documents.get(req.baseUrl);
  if (!document) {
    document = openApiDocument(req.baseUrl);
    documents.set(req.baseUrl, document);
  }
  return { status: 200, headers: { 'cache-control': 'public, max-age=300' }, json: document };
});
