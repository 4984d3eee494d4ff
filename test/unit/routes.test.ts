import { describe, expect, it } from 'vitest';
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
    expect(matchRoute('PATCH', '/v1/objects/x')).toEqual({ methodMismatch: true });
    expect(matchRoute('GET', '/v2/nothing')).toBeNull();
    expect(matchRoute('GET', '/v1/preview/acme')).toBeNull();
    const list = matchRoute('GET', '/v1/objects');
    expect(list && 'route' in list && list.route.fn).toBe('list-objects');
  });
});
