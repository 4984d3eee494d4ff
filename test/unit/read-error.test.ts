import { describe, expect, it } from 'vitest';
import { errorCodes } from '../../shared/errors';
import { readApiError } from '../../shared/http/read-error';

describe('readApiError: one {code, message} from the service or from API Gateway', () => {
  it("reads the service's JSON as it is, with its Retry-After", () => {
    const body = JSON.stringify({ error: { code: 'QUOTA_EXCEEDED', message: 'No room' } });
    expect(readApiError(413, body)).toEqual({
      status: 413,
      code: 'QUOTA_EXCEEDED',
      message: 'No room',
      source: 'service',
    });
    const busy = JSON.stringify({ error: { code: 'SERVICE_BUSY', message: 'Busy' } });
    expect(readApiError(503, busy, new Headers({ 'retry-after': '3' }))).toMatchObject({
      code: 'SERVICE_BUSY',
      retryAfterSeconds: 3,
    });
    expect(readApiError(503, busy, { 'retry-after': '4' }).retryAfterSeconds).toBe(4);
    // A code this client does not know yet is passed on, not replaced.
    expect(readApiError(400, JSON.stringify({ error: { code: 'NEWER_CODE', message: 'm' } })).code).toBe(
      'NEWER_CODE',
    );
  });

  it.each([
    // What API Gateway sends itself (docs/deploy.md, "What clients see from API Gateway").
    [401, '{"message":"Unauthorized"}', 'UNAUTHORIZED'],
    [403, '{"message":"Forbidden"}', 'FORBIDDEN'],
    [404, '{"message":"Not Found"}', 'NOT_FOUND'],
    [413, '{"message":"Request Entity Too Large"}', 'FILE_TOO_LARGE'],
    [429, '{"message":"Too Many Requests"}', 'THROTTLED'],
    [500, '{"message":"Internal Server Error"}', 'INTERNAL'],
    [503, '{"message":"Service Unavailable"}', 'SERVICE_BUSY'],
  ])("maps API Gateway's %i %s to %s", (status, body, code) => {
    const answer = readApiError(status, body);
    expect(answer).toMatchObject({ status, code, message: JSON.parse(body).message, source: 'gateway' });
    expect(Object.keys(errorCodes)).toContain(answer.code);
  });

  it('gives throttling a pause even without Retry-After, and reads bodies that are not JSON', () => {
    expect(readApiError(429, '{"message":"Too Many Requests"}').retryAfterSeconds).toBe(1);
    expect(readApiError(401, '{"message":"Unauthorized"}').retryAfterSeconds).toBeUndefined();
    expect(readApiError(502, '<html>Bad Gateway</html>')).toEqual({
      status: 502,
      code: 'INTERNAL',
      message: 'HTTP 502',
      source: 'gateway',
    });
    expect(readApiError(400, '')).toMatchObject({ code: 'INVALID_REQUEST', source: 'gateway' });
    expect(readApiError(418, 'null')).toMatchObject({ code: 'INVALID_REQUEST', message: 'HTTP 418' });
  });
});
