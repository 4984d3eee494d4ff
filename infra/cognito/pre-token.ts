import type { PreTokenGenerationV2TriggerEvent } from 'aws-lambda';
import type { TenantPermission } from '../../shared/routes';
import { SCOPE_PREFIX, TENANT_PATTERN } from '../../shared/service/principal';

/**
 * The pre-token-generation trigger (event version 2) of the user pool the stack creates when no
 * issuer is configured. Cognito puts neither user attributes nor arbitrary scopes into access
 * tokens by itself, and resource-server scopes come out as `storage/upload`, so this trigger makes
 * the access token what the handlers read (shared/service/principal.ts):
 * - the tenant claim (TENANT_CLAIM, default `tenant`) from the user's `custom:tenant` attribute,
 *   which only administrators can write (the app client may not);
 * - `storage:upload storage:download storage:delete` in `scope` for a user with a valid tenant;
 * - `storage:manage` for members of the operators group, whose `cognito:groups` claim is the
 *   stack's OPERATOR_CLAIM (the scope alone makes nobody an operator).
 * The scopes follow the user, not the request: tokens from the API sign-in flows, which carry no
 * custom scopes, and refreshed tokens get the same ones.
 */

/** The user attribute that names a user's tenant (set by an administrator). */
export const TENANT_ATTRIBUTE = 'custom:tenant';
/** The group whose members are operators (quotas, recalculation, the audit). */
export const OPERATORS_GROUP = 'storage-operators';
/** The operator identity of a stack that creates its own pool (OPERATOR_CLAIM). */
export const POOL_OPERATOR_CLAIM = `cognito:groups=${OPERATORS_GROUP}`;

const TENANT_PERMISSIONS = ['upload', 'download', 'delete'] as const satisfies readonly TenantPermission[];
export const TENANT_SCOPES: readonly string[] = TENANT_PERMISSIONS.map((p) => `${SCOPE_PREFIX}${p}`);
export const OPERATOR_SCOPE = `${SCOPE_PREFIX}manage`;

export interface AccessTokenCustomization {
  claimsToAddOrOverride: Record<string, string>;
  scopesToAdd: string[];
}

/** What goes into the access token of a user with these attributes and groups. */
export function accessTokenCustomization(
  userAttributes: Record<string, string | undefined>,
  groups: readonly string[] | undefined,
  tenantClaim: string,
): AccessTokenCustomization {
  const customization: AccessTokenCustomization = { claimsToAddOrOverride: {}, scopesToAdd: [] };
  const tenant = userAttributes[TENANT_ATTRIBUTE];
  // A malformed tenant would make the handlers refuse the whole token; leaving it out keeps an
  // operator's token usable and gives a tenant member no file access, which the UI can explain.
  if (tenant !== undefined && TENANT_PATTERN.test(tenant)) {
    customization.claimsToAddOrOverride[tenantClaim] = tenant;
    customization.scopesToAdd.push(...TENANT_SCOPES);
  }
  if (groups?.includes(OPERATORS_GROUP)) customization.scopesToAdd.push(OPERATOR_SCOPE);
  return customization;
}

export const handler = async (
  event: PreTokenGenerationV2TriggerEvent,
): Promise<PreTokenGenerationV2TriggerEvent> => {
  event.response = {
    claimsAndScopeOverrideDetails: {
      accessTokenGeneration: accessTokenCustomization(
        event.request.userAttributes,
        event.request.groupConfiguration?.groupsToOverride,
        process.env.TENANT_CLAIM || 'tenant',
      ),
    },
  };
  return event;
};
