import { AppError } from '../shared/errors';
import { errorResult, httpHandler } from '../shared/http/api';
import { matchRoute } from '../shared/routes';

/**
 * The `$default` route (shared/routes.ts fallbackRoute): any request no route of the table takes.
 * 405 with `Allow` when the path exists for other methods, else 404; in the service's JSON shape.
 */
export const handler = httpHandler(null, async ({ event }) => {
  let match: ReturnType<typeof matchRoute>;
  try {
    match = matchRoute(event.requestContext.http.method, event.rawPath);
  } catch {
    match = null; // a malformed escape in a path API Gateway did not route: still no such route
  }
  if (match && 'methodMismatch' in match) {
    const result = errorResult(
      new AppError(
        'METHOD_NOT_ALLOWED',
        `${event.requestContext.http.method} is not allowed here; use ${match.allow.join(', ')}`,
      ),
    );
    return { ...result, headers: { ...result.headers, allow: match.allow.join(', ') } };
  }
  // A path the table has for this very method arrives here only if API Gateway matched it
  // differently (it decodes the path first): still no route for the client.
  return errorResult(new AppError('NOT_FOUND', 'No such route'));
});
