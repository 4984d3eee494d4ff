import { AppError } from './errors';

/**
 * THE route table. The CDK stack and the local server both iterate it, so what runs in AWS and what
 * runs on one machine cannot drift. `fn` is the file name in functions/ (one Lambda per route).
 */
/** What a tenant's token may do, inside its own tenant. */
export type TenantPermission = 'upload' | 'download' | 'delete';
/** `manage`: operator calls across tenants, for the deployment's operator identity only. */
export type Permission = TenantPermission | 'manage';

export interface Route {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  /** API Gateway path syntax: `{name}` one segment, `{name+}` the rest of the path. */
  path: string;
  fn: string;
  /** Scope the caller needs; `null` = no token required (the handler decides, e.g. public files or signed links). */
  permission: Permission | null;
  /** The request body is a file: the local server streams it instead of buffering it. */
  streamsBody?: boolean;
}

export const routes: readonly Route[] = [
  {
    method: 'PUT',
    path: '/v1/objects/{path+}',
    fn: 'upload-object',
    permission: 'upload',
    streamsBody: true,
  },
  { method: 'POST', path: '/v1/objects', fn: 'upload-form', permission: 'upload', streamsBody: true },
  { method: 'GET', path: '/v1/objects/{path+}', fn: 'download-object', permission: 'download' },
  { method: 'DELETE', path: '/v1/objects/{path+}', fn: 'delete-object', permission: 'delete' },
  { method: 'GET', path: '/v1/objects', fn: 'list-objects', permission: 'download' },
  { method: 'GET', path: '/v1/meta/{path+}', fn: 'get-file-record', permission: 'download' },
  { method: 'GET', path: '/v1/preview/{tenant}/{path+}', fn: 'preview-object', permission: null },
  { method: 'GET', path: '/v1/thumbnails/{tenant}/{path+}', fn: 'get-thumbnail', permission: null },
  { method: 'POST', path: '/v1/links', fn: 'create-link', permission: 'download' },
  // Whoever may replace a file (which kills its links) may kill its links without replacing it.
  { method: 'DELETE', path: '/v1/links/{path+}', fn: 'revoke-links', permission: 'upload' },
  { method: 'POST', path: '/v1/uploads', fn: 'sign-upload', permission: 'upload' },
  { method: 'POST', path: '/v1/uploads/{uploadId}/complete', fn: 'complete-upload', permission: 'upload' },
  { method: 'POST', path: '/v1/uploads/{uploadId}/parts', fn: 'sign-parts', permission: 'upload' },
  { method: 'GET', path: '/v1/uploads/{uploadId}/parts', fn: 'list-parts', permission: 'upload' },
  { method: 'GET', path: '/v1/uploads/{uploadId}', fn: 'get-upload', permission: 'upload' },
  { method: 'DELETE', path: '/v1/uploads/{uploadId}', fn: 'abort-upload', permission: 'upload' },
  { method: 'GET', path: '/v1/usage', fn: 'get-usage', permission: 'download' },
  { method: 'PUT', path: '/v1/quota/{tenant}', fn: 'set-quota', permission: 'manage' },
  { method: 'POST', path: '/v1/usage/recalculate', fn: 'recalculate-usage', permission: 'manage' },
  { method: 'GET', path: '/v1/storages', fn: 'list-storages', permission: 'download' },
  { method: 'POST', path: '/v1/audit', fn: 'run-audit', permission: 'manage' },
  { method: 'GET', path: '/v1/openapi.json', fn: 'get-openapi', permission: null },
];

/** Functions without a route: triggered by a schedule, by storage events or by file events. */
export const internalFunctions = [
  'sweep-expired',
  'on-object-created',
  'audit-integrity',
  'render-thumbnails',
] as const;

/**
 * What runs for a request no route matches: API Gateway's `$default` route in AWS, the local server
 * on one machine, so both answer 404/405 in the service's JSON (not API Gateway's `{"message"}`).
 * No token: it reveals only what the route table itself says.
 */
export const fallbackRoute = { key: '$default', fn: 'no-route', permission: null } as const;

export const routeKey = (r: Pick<Route, 'method' | 'path'>) => `${r.method} ${r.path}`;

export interface RouteMatch {
  route: Route;
  pathParameters: Record<string, string>;
}

/**
 * Matches a request path: segments are percent-decoded one by one (so an encoded "%2F" stays inside
 * its segment for `{name}` and `..` is passed through for the handler to reject), `{name+}` takes
 * the rest. Returns null when no route has that path, and `methodMismatch` with the methods it has
 * when the path exists for another method. The parameters of the matched route must be valid percent-encoded UTF-8, or it
 * throws INVALID_PATH_ENCODING: a malformed escape kept as typed would be a second URL of the file
 * that its encoded spelling names (`x%FF.bin` and `x%25FF.bin`).
 */
export function matchRoute(
  method: string,
  rawPath: string,
): RouteMatch | { methodMismatch: true; allow: Route['method'][] } | null {
  const segments = rawPath.split('/').slice(1);
  const allow: Route['method'][] = [];
  for (const route of routes) {
    const params = matchSegments(route.path.split('/').slice(1), segments);
    if (!params) continue;
    allow.push(route.method);
    if (route.method === method) return { route, pathParameters: decodeParams(params) };
  }
  return allow.length ? { methodMismatch: true, allow: [...new Set(allow)].sort() } : null;
}

/** The raw (still encoded) segments of each parameter, or null when the pattern does not fit. */
function matchSegments(pattern: string[], segments: string[]): Record<string, string[]> | null {
  const params: Record<string, string[]> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i] as string;
    if (p.startsWith('{') && p.endsWith('+}')) {
      const rest = segments.slice(i);
      if (rest.length === 0 || (rest.length === 1 && rest[0] === '')) return null;
      params[p.slice(1, -2)] = rest;
      return params;
    }
    const s = segments[i];
    if (s === undefined) return null;
    if (p.startsWith('{') && p.endsWith('}')) {
      if (s === '') return null;
      params[p.slice(1, -1)] = [s];
    } else if (p !== s) return null;
  }
  return segments.length === pattern.length ? params : null;
}

function decodeParams(raw: Record<string, string[]>): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [name, segments] of Object.entries(raw)) params[name] = segments.map(decodeSegment).join('/');
  return params;
}

/**
 * decodeURIComponent is strict by its specification: it throws on a "%" not followed by two hex
 * digits and on bytes that are not UTF-8 (stray continuation bytes, overlong forms, surrogates,
 * code points past U+10FFFF).
 */
function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new AppError(
      'INVALID_PATH_ENCODING',
      'The path has a malformed percent-escape or one that is not UTF-8; write a literal "%" as %25',
    );
  }
}
