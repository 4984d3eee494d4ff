import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildUi, UI_ASSETS_DIR } from '../../ui/build';
import { serveStatic } from './static-files';
import { signDevToken } from './tokens';

/**
 * The file browser on one machine: `/`, `/admin` and `/admin/` answer the page, `/ui/...` its
 * assets, `/config.json` its settings (the API on the same origin, no OIDC issuer, the dev token),
 * and `/_local/dev-token` the dev token itself. The page is built by esbuild on the first request
 * (a fraction of a second), so `npm start` needs no build step and starts as fast as before.
 */
export const DEV_TOKEN_PATH = '/_local/dev-token';
const PAGES = new Set(['/', '/admin', '/admin/']);
const ASSETS = `/${UI_ASSETS_DIR}/`;

export const isUiPath = (rawPath: string) =>
  PAGES.has(rawPath) ||
  rawPath === '/config.json' ||
  rawPath === DEV_TOKEN_PATH ||
  rawPath.startsWith(ASSETS);

/** The page's settings on one machine (the stack writes its own in AWS). */
export const LOCAL_UI_CONFIG = { apiUrl: '', auth: null, devTokenUrl: DEV_TOKEN_PATH } as const;

/**
 * Who may be handed the dev token: a page on this machine. The server listens on 127.0.0.1, and the
 * Host check keeps a site whose DNS name was rebound to 127.0.0.1 from reading the token.
 */
function fromThisMachine(req: IncomingMessage): boolean {
  const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
  let publicHost = '';
  try {
    publicHost = new URL(process.env.PUBLIC_BASE_URL ?? '').hostname.toLowerCase();
  } catch {
    // unset: loopback names only
  }
  return ['localhost', '127.0.0.1', '[::1]', publicHost].includes(host) && host !== '';
}

export interface UiPageOptions {
  jwtSecret: string;
  /** Where the page is built; default a temporary folder, removed when the server closes. */
  outdir?: string;
}

export interface UiPage {
  serve(req: IncomingMessage, res: ServerResponse, rawPath: string, notFound: () => void): Promise<void>;
  /** Removes the temporary build folder, if one was made. */
  close(): Promise<void>;
}

export function createUiPage(options: UiPageOptions): UiPage {
  let built: Promise<string> | undefined;
  let temporary: string | undefined;
  const build = () => {
    built ??= (async () => {
      if (!options.outdir) temporary ??= await mkdtemp(join(tmpdir(), 'storage-ui-'));
      const dir = options.outdir ?? (temporary as string);
      await buildUi(dir);
      return dir;
    })();
    // A failed build is tried again on the next request.
    built.catch(() => {
      built = undefined;
    });
    return built;
  };

  const sendJson = (req: IncomingMessage, res: ServerResponse, status: number, json: unknown) => {
    const body = JSON.stringify(json);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  return {
    async serve(req, res, rawPath, notFound) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return notFound();
      if (rawPath === '/config.json') return sendJson(req, res, 200, LOCAL_UI_CONFIG);
      if (rawPath === DEV_TOKEN_PATH) {
        if (!fromThisMachine(req)) {
          return sendJson(req, res, 403, {
            error: { code: 'FORBIDDEN', message: 'The dev token is handed to pages on this machine only' },
          });
        }
        // The token `npm start` prints: tenant "demo", the three tenant scopes, 12 hours.
        return sendJson(req, res, 200, {
          token: await signDevToken(options.jwtSecret, { tenant: 'demo', user: 'dev' }),
        });
      }
      const dir = await build();
      return serveStatic(dir, req, res, PAGES.has(rawPath) ? '/index.html' : rawPath, notFound, '/');
    },
    async close() {
      if (temporary) await rm(temporary, { recursive: true, force: true });
    },
  };
}
