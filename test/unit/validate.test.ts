import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resetConfig } from '../../shared/config';
import type { AppError } from '../../shared/errors';
import { parseRange } from '../../shared/http/object-response';
import { renamedPath } from '../../shared/service/keys';
import { principalFromClaims, requirePermission } from '../../shared/service/principal';
import {
  assertTypeAllowed,
  normalizeContentType,
  parseExpires,
  parseMd5,
  parseOnConflict,
  parseVisibility,
} from '../../shared/service/validate';

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return `${(e as AppError).status} ${(e as AppError).code}`;
  }
  return 'no error';
};

describe('query parameters', () => {
  it('expires: positive whole seconds up to ten years', () => {
    expect(parseExpires('60')).toBe(60);
    expect(parseExpires(undefined)).toBeUndefined();
    expect(codeOf(() => parseExpires('-5'))).toBe('400 INVALID_EXPIRES');
    expect(codeOf(() => parseExpires('0'))).toBe('400 INVALID_EXPIRES');
    expect(codeOf(() => parseExpires('1.5'))).toBe('400 INVALID_EXPIRES');
    expect(codeOf(() => parseExpires('soon'))).toBe('400 INVALID_EXPIRES');
    expect(codeOf(() => parseExpires(String(10 * 365 * 24 * 3600 + 1)))).toBe('400 INVALID_EXPIRES');
  });

  it('md5: 32 hex characters, lower-cased', () => {
    expect(parseMd5('5EB63BBBE01EEED093CB22BB8F5ACDC3')).toBe('5eb63bbbe01eeed093cb22bb8f5acdc3');
    expect(codeOf(() => parseMd5('abc'))).toBe('400 INVALID_MD5');
    expect(codeOf(() => parseMd5('z'.repeat(32)))).toBe('400 INVALID_MD5');
  });

  it('visibility and onConflict accept their words only', () => {
    expect(parseVisibility(undefined)).toBe('private');
    expect(parseVisibility('public')).toBe('public');
    expect(codeOf(() => parseVisibility('everyone'))).toBe('400 INVALID_REQUEST');
    expect(parseOnConflict(undefined)).toBe('overwrite');
    expect(codeOf(() => parseOnConflict('merge'))).toBe('400 INVALID_REQUEST');
  });
});

describe('content types', () => {
  beforeEach(() => {
    process.env.SIGNING_SECRET = 'x'.repeat(32);
    process.env.ALLOWED_CONTENT_TYPES = 'image/*, application/pdf';
    resetConfig();
  });
  afterEach(() => {
    delete process.env.ALLOWED_CONTENT_TYPES;
    resetConfig();
  });

  it('defaults to application/octet-stream and drops parameters', () => {
    expect(normalizeContentType(undefined)).toBe('application/octet-stream');
    expect(normalizeContentType('Text/Plain; charset=utf-8')).toBe('text/plain');
    expect(codeOf(() => normalizeContentType('not a type'))).toBe('415 UNSUPPORTED_MEDIA_TYPE');
  });

  it('allows configured types with wildcards and rejects the rest with 415', () => {
    expect(() => assertTypeAllowed('image/png')).not.toThrow();
    expect(() => assertTypeAllowed('application/pdf')).not.toThrow();
    expect(codeOf(() => assertTypeAllowed('text/html'))).toBe('415 UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('Range header', () => {
  it.each([
    ['bytes=0-4', 10, { start: 0, end: 4 }],
    ['bytes=5-', 10, { start: 5, end: 9 }],
    ['bytes=-3', 10, { start: 7, end: 9 }],
    ['bytes=8-100', 10, { start: 8, end: 9 }],
    ['bytes=10-', 10, 'unsatisfiable'],
    ['bytes=0-', 0, 'unsatisfiable'],
    ['bytes=0-1,4-5', 10, null],
    ['items=0-1', 10, null],
    ['bytes=5-2', 10, null],
    [undefined, 10, null],
  ])('%s of %i bytes', (header, size, expected) => {
    expect(parseRange(header, size)).toEqual(expected);
  });
});

describe('principal', () => {
  const operatorClaim = { name: 'cognito:groups', value: 'storage-operators' };

  it('reads sub, tenant and storage scopes from the claims', () => {
    const p = principalFromClaims(
      { sub: 'u1', tenant: 'acme', scope: 'openid storage:upload storage:download' },
      'tenant',
      operatorClaim,
    );
    expect(p?.tenant).toBe('acme');
    expect([...(p?.permissions ?? [])].sort()).toEqual(['download', 'upload']);
  });

  it('grants manage only for the scope together with the operator claim of the deployment', () => {
    const manage = (claims: Record<string, unknown>, claim: typeof operatorClaim | null = operatorClaim) =>
      principalFromClaims({ sub: 'u1', ...claims }, 'custom:tenant', claim ?? undefined)?.permissions.has(
        'manage',
      );
    // The reported hole: any tenant's token with the scope ruled every tenant.
    expect(manage({ 'custom:tenant': 'acme', scp: ['storage:manage'] })).toBe(false);
    expect(manage({ scope: 'storage:manage', 'cognito:groups': 'storage-operators' })).toBe(true);
    // API Gateway hands list claims over as "[a b]"; issuers may send arrays.
    expect(manage({ scope: 'storage:manage', 'cognito:groups': '[admins storage-operators]' })).toBe(true);
    expect(manage({ scp: ['storage:manage'], 'cognito:groups': ['storage-operators'] })).toBe(true);
    expect(manage({ scope: 'storage:manage', 'cognito:groups': '[storage-operators-not]' })).toBe(false);
    expect(manage({ scope: 'storage:download', 'cognito:groups': 'storage-operators' })).toBe(false);
    // Without an operator identity configured, nobody is an operator.
    expect(manage({ scope: 'storage:manage', 'cognito:groups': 'storage-operators' }, null)).toBe(false);
    // A separate audience works the same way.
    expect(
      manage({ scope: 'storage:manage', aud: ['api', 'ops-console'] }, { name: 'aud', value: 'ops-console' }),
    ).toBe(true);
  });

  it('refuses claims without a user or with a malformed tenant; an absent tenant is no tenant', () => {
    expect(principalFromClaims({ tenant: 'acme' }, 'tenant', operatorClaim)).toBeUndefined();
    expect(principalFromClaims({ sub: 'u1', tenant: '../x' }, 'tenant', operatorClaim)).toBeUndefined();
    expect(principalFromClaims({ sub: 'u1', tenant: 7 }, 'tenant', operatorClaim)).toBeUndefined();
    expect(principalFromClaims(undefined, 'tenant', operatorClaim)).toBeUndefined();
    expect(principalFromClaims({ sub: 'u1' }, 'tenant', operatorClaim)?.tenant).toBeUndefined();
  });

  it('401 without a principal, 403 without the scope, the tenant, or the operator identity', () => {
    expect(codeOf(() => requirePermission(undefined, 'upload'))).toBe('401 UNAUTHORIZED');
    const p = principalFromClaims(
      { sub: 'u', tenant: 't', scope: 'storage:download' },
      'tenant',
      operatorClaim,
    );
    expect(codeOf(() => requirePermission(p, 'delete'))).toBe('403 FORBIDDEN');
    expect(requirePermission(p, 'download')).toBe(p);
    const noTenant = principalFromClaims({ sub: 'u', scope: 'storage:download' }, 'tenant', operatorClaim);
    expect(codeOf(() => requirePermission(noTenant, 'download'))).toBe('403 FORBIDDEN');
    const operator = principalFromClaims(
      { sub: 'ops', scope: 'storage:manage', 'cognito:groups': 'storage-operators' },
      'tenant',
      operatorClaim,
    );
    expect(requirePermission(operator, 'manage')).toBe(operator);
    expect(codeOf(() => requirePermission(operator, 'download'))).toBe('403 FORBIDDEN');
    expect(codeOf(() => requirePermission(p, 'manage'))).toBe('403 FORBIDDEN');
  });
});

describe('renamedPath', () => {
  it('adds a timestamp and 8 hex characters before the extension, in the same folder', () => {
    const at = new Date('2026-11-22T02:15:00Z');
    expect(renamedPath('docs/report.pdf', at)).toMatch(/^docs\/report_20261122_021500_[0-9a-f]{8}\.pdf$/);
    expect(renamedPath('README', at)).toMatch(/^README_20261122_021500_[0-9a-f]{8}$/);
  });
});
