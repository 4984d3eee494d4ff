import { AppError } from '../errors';
import type { Permission, TenantPermission } from '../routes';

/**
 * Who is calling: from the JWT authorizer's claims in AWS, from the verified dev token locally.
 * A tenant member has a tenant and tenant permissions; an operator has `manage`, which only the
 * deployment's operator identity grants, and needs no tenant.
 */
export interface Principal {
  userId: string;
  tenant?: string;
  permissions: ReadonlySet<Permission>;
}

/** The caller of a tenant route: always inside one tenant. */
export interface TenantPrincipal extends Principal {
  tenant: string;
}

/** Tenants end up in backend keys and URLs, so they are plain identifiers. */
export const TENANT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const SCOPE_PREFIX = 'storage:';
const TENANT_PERMISSIONS: readonly TenantPermission[] = ['upload', 'download', 'delete'];

/**
 * A claim's values: API Gateway passes a list claim (`scope`, `cognito:groups`, an `aud` array) as
 * one string, space-separated or as "[a b]"; some issuers send real arrays.
 */
function claimValues(raw: unknown): string[] {
  if (Array.isArray(raw)) return raw.map(String);
  if (typeof raw === 'string')
    return raw
      .replace(/^\[|\]$/g, '')
      .split(/[\s,]+/)
      .filter(Boolean);
  return [];
}

export function principalFromClaims(
  claims: Record<string, unknown> | undefined,
  tenantClaim: string,
  /** The deployment's operator identity (OPERATOR_CLAIM); undefined: nobody is an operator. */
  operatorClaim: { name: string; value: string } | undefined,
): Principal | undefined {
  if (!claims) return undefined;
  const userId = claims.sub;
  const tenant = claims[tenantClaim];
  if (typeof userId !== 'string' || !userId) return undefined;
  // A tenant that is there but malformed is a broken token, not an operator's missing one.
  if (tenant !== undefined && (typeof tenant !== 'string' || !TENANT_PATTERN.test(tenant))) return undefined;
  const scopes = new Set(claimValues(claims.scope ?? claims.scp));
  const permissions = new Set<Permission>();
  for (const p of TENANT_PERMISSIONS) if (scopes.has(`${SCOPE_PREFIX}${p}`)) permissions.add(p);
  // The scope alone is what any client of the issuer may ask for; the claim is who the caller is.
  if (
    scopes.has(`${SCOPE_PREFIX}manage`) &&
    operatorClaim &&
    claimValues(claims[operatorClaim.name]).includes(operatorClaim.value)
  ) {
    permissions.add('manage');
  }
  return { userId, tenant: tenant as string | undefined, permissions };
}

export function requirePermission(principal: Principal | undefined, permission: 'manage'): Principal;
export function requirePermission(
  principal: Principal | undefined,
  permission: TenantPermission,
): TenantPrincipal;
export function requirePermission(principal: Principal | undefined, permission: Permission): Principal {
  if (!principal) throw new AppError('UNAUTHORIZED', 'A valid bearer token is required');
  if (permission === 'manage') {
    if (principal.permissions.has('manage')) return principal;
    throw new AppError(
      'FORBIDDEN',
      `Operator calls need an operator token: the ${SCOPE_PREFIX}manage scope and the operator claim this deployment configures (OPERATOR_CLAIM)`,
    );
  }
  if (!principal.permissions.has(permission)) {
    throw new AppError('FORBIDDEN', `The token lacks the ${SCOPE_PREFIX}${permission} scope`);
  }
  if (!principal.tenant) {
    throw new AppError('FORBIDDEN', 'The token names no tenant, so it has no files to act on');
  }
  return principal;
}
