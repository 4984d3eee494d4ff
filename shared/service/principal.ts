import { AppError } from '../errors';
import type { Permission } from '../routes';

/** Who is calling: from the JWT authorizer's claims in AWS, from the verified dev token locally. */
export interface Principal {
  userId: string;
  tenant: string;
  permissions: ReadonlySet<Permission>;
}

/** Tenants end up in backend keys and URLs, so they are plain identifiers. */
export const TENANT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const SCOPE_PREFIX = 'storage:';

export function principalFromClaims(
  claims: Record<string, unknown> | undefined,
  tenantClaim: string,
): Principal | undefined {
  if (!claims) return undefined;
  const userId = claims.sub;
  const tenant = claims[tenantClaim];
  if (typeof userId !== 'string' || !userId || typeof tenant !== 'string' || !TENANT_PATTERN.test(tenant)) {
    return undefined;
  }
  // API Gateway passes `scope` as the token's space-separated string; some issuers use an array (`scp`).
  const raw = claims.scope ?? claims.scp;
  const scopes = Array.isArray(raw)
    ? raw.map(String)
    : typeof raw === 'string'
      ? raw.replace(/^\[|\]$/g, '').split(/[\s,]+/)
      : [];
  const permissions = new Set<Permission>();
  for (const s of scopes) {
    if (s.startsWith(SCOPE_PREFIX)) {
      const p = s.slice(SCOPE_PREFIX.length);
      if (p === 'upload' || p === 'download' || p === 'delete' || p === 'manage') permissions.add(p);
    }
  }
  return { userId, tenant, permissions };
}

export function requirePermission(principal: Principal | undefined, permission: Permission): Principal {
  if (!principal) throw new AppError('UNAUTHORIZED', 'A valid bearer token is required');
  if (!principal.permissions.has(permission)) {
    throw new AppError('FORBIDDEN', `The token lacks the ${SCOPE_PREFIX}${permission} scope`);
  }
  return principal;
}
