import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { serveStatic } from './static-files';

/**
 * The API's docs page on one machine: Swagger UI, served from the swagger-ui-dist package in
 * node_modules (nothing from a CDN: it works offline), rendering GET /v1/openapi.json.
 */
export const DOCS_PATH = '/docs';
const ASSETS = '/docs/assets/';

const assetsDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

// No validator badge: Swagger UI would send the document to an online validator.
const INIT = `window.onload = () => {
  window.ui = SwaggerUIBundle({
    url: '/v1/openapi.json',
    dom_id: '#docs',
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: 'StandaloneLayout',
  });
};
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Unified file storage: API</title>
<link rel="stylesheet" href="${ASSETS}swagger-ui.css">
</head>
<body>
<div id="docs"></div>
<script src="${ASSETS}swagger-ui-bundle.js"></script>
<script src="${ASSETS}swagger-ui-standalone-preset.js"></script>
<script src="${DOCS_PATH}/init.js"></script>
</body>
</html>
`;

/** Whether the local server should answer this path with the docs (the page, its script, Swagger UI's files). */
export const isDocsPath = (rawPath: string) => rawPath === DOCS_PATH || rawPath.startsWith(`${DOCS_PATH}/`);

export async function serveDocs(
  req: IncomingMessage,
  res: ServerResponse,
  rawPath: string,
  notFound: () => void,
): Promise<void> {
  const send = (type: string, body: string) => {
    res.writeHead(200, { 'content-type': type, 'content-length': String(Buffer.byteLength(body)) });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') return notFound();
  if (rawPath === DOCS_PATH || rawPath === `${DOCS_PATH}/`) return send('text/html; charset=utf-8', PAGE);
  if (rawPath === `${DOCS_PATH}/init.js`) return send('text/javascript; charset=utf-8', INIT);
  return serveStatic(assetsDir, req, res, rawPath, notFound, ASSETS);
}
