import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, resolve } from 'node:path';

/**
 * Test pages (the browser upload test) served by the local server from LOCAL_STATIC_DIR under this
 * prefix. Only when the variable is set: `npm start` serves no files of its own otherwise.
 */
export const LOCAL_STATIC_PREFIX = '/_local/static/';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The file a path under the prefix names, or undefined for anything that could leave the folder:
 * every segment is decoded on its own, and an empty, ".", ".." or undecodable segment, or one that
 * decodes to a separator or NUL, is refused rather than normalized.
 */
export function staticFilePath(
  root: string,
  rawPath: string,
  prefix = LOCAL_STATIC_PREFIX,
): string | undefined {
  if (!rawPath.startsWith(prefix)) return undefined;
  const segments: string[] = [];
  for (const raw of rawPath.slice(prefix.length).split('/')) {
    let s: string;
    try {
      s = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (s === '' || s === '.' || s === '..' || /[/\\\0]/.test(s)) return undefined;
    segments.push(s);
  }
  const base = resolve(root);
  const file = join(base, ...segments);
  return file.startsWith(`${base}/`) ? file : undefined;
}

/** GET/HEAD of a regular file under `root` (named below `prefix`); 404 JSON for anything else, as an unknown route. */
export async function serveStatic(
  root: string,
  req: IncomingMessage,
  res: ServerResponse,
  rawPath: string,
  notFound: () => void,
  prefix = LOCAL_STATIC_PREFIX,
): Promise<void> {
  const file = staticFilePath(root, rawPath, prefix);
  const info = file ? await stat(file).catch(() => undefined) : undefined;
  if (!file || !info?.isFile() || (req.method !== 'GET' && req.method !== 'HEAD')) return notFound();
  res.writeHead(200, {
    'content-type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'content-length': String(info.size),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  if (req.method === 'HEAD') return void res.end();
  const stream = createReadStream(file);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}
