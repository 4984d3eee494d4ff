import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors';
import { matchRoute, routes } from '../../shared/routes';

describe('route table', () => {
  it('has one function per route and unique route keys', () => {
    const keys = routes.map((r) => `${r.method} ${r.path}`);
    expect(new Set(keys).size).toBe(routes.length);
    expect(new Set(routes.map((r) => r.fn)).size).toBe(routes.length);
  });

  it('matches greedy paths and decodes each segment', () => {
    const m = matchRoute('PUT', '/v1/objects/docs/h%C3%A9llo%20world.txt');
    expect(m && 'route' in m && m.route.fn).toBe('upload-object');
    expect(m && 'route' in m && m.pathParameters).toEqual({ path: 'docs/héllo world.txt' });
  });

  it('passes ".." through for the handler to reject instead of resolving it', () => {
    const m = matchRoute('GET', '/v1/objects/a/../b');
    expect(m && 'route' in m && m.pathParameters.path).toBe('a/../b');
  });

  it('matches single-segment parameters and tells a wrong method from a missing path', () => {
    const m = matchRoute('POST', '/v1/uploads/abc/complete');
    expect(m && 'route' in m && m.pathParameters).toEqual({ uploadId: 'abc' });
    expect(matchRoute('PATCH', '/v1/objects/x')).toEqual({
      methodMismatch: true,
      allow: ['DELETE', 'GET', 'PUT'],
    });
    expect(matchRoute('GET', '/v1/uploads/u1/complete')).toEqual({ methodMismatch: true, allow: ['POST'] });
    expect(matchRoute('GET', '/v2/nothing')).toBeNull();
    expect(matchRoute('GET', '/v1/preview/acme')).toBeNull();
    const list = matchRoute('GET', '/v1/objects');
    expect(list && 'route' in list && list.route.fn).toBe('list-objects');
  });
});

describe('matchRoute: percent-encoding', () => {
  const codeOf = (method: string, rawPath: string) => {
    try {
      matchRoute(method, rawPath);
    } catch (e) {
      return e instanceof AppError ? `${e.status} ${e.code}` : String(e);
    }
    return 'no error';
  };

  it.each([
    ['%', 'a lone "%"'],
    ['%G1', 'a non-hex escape'],
    ['%F', 'a cut-off escape'],
    ['%FF', 'a byte that is never UTF-8'],
    ['%C3%28', 'a lead byte without its continuation'],
    ['%C0%AF', 'an overlong "/"'],
    ['%E0%80%AF', 'an overlong three-byte form'],
    ['%ED%A0%80', 'an encoded UTF-16 surrogate'],
    ['%F4%90%80%80', 'a code point above U+10FFFF'],
    ['%F0%9F%8E', 'a cut-off four-byte sequence'],
  ])('%s (%s) in a path segment is 400 INVALID_PATH_ENCODING', (bad) => {
    expect(codeOf('PUT', `/v1/objects/bad/x${bad}.bin`)).toBe('400 INVALID_PATH_ENCODING');
    expect(codeOf('GET', `/v1/objects/x${bad}/y.bin`)).toBe('400 INVALID_PATH_ENCODING');
    expect(codeOf('GET', `/v1/preview/acme${bad}/y.bin`)).toBe('400 INVALID_PATH_ENCODING');
    expect(codeOf('POST', `/v1/uploads/u${bad}/complete`)).toBe('400 INVALID_PATH_ENCODING');
    expect(codeOf('PUT', `/v1/quota/t${bad}`)).toBe('400 INVALID_PATH_ENCODING');
  });

  it('an encoded "%" names a literal "%": x%25FF.bin is x%FF.bin, the only URL of that name', () => {
    const m = matchRoute('PUT', '/v1/objects/bad/x%25FF.bin');
    expect(m && 'route' in m && m.pathParameters).toEqual({ path: 'bad/x%FF.bin' });
  });

  it('keeps "%2F" inside its segment for single-segment parameters', () => {
    const m = matchRoute('GET', '/v1/preview/a%2Fb/c%2Fd.txt');
    expect(m && 'route' in m && m.pathParameters).toEqual({ tenant: 'a/b', path: 'c/d.txt' });
  });

  it('a wrong method is still 405 and an unknown path still 404, whatever the escapes', () => {
    expect(matchRoute('PATCH', '/v1/objects/x%FF.bin')).toMatchObject({ methodMismatch: true });
    expect(matchRoute('GET', '/v2/x%FF.bin')).toBeNull();
  });
});
