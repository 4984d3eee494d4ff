import type { PreTokenGenerationV2TriggerEvent } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import {
  accessTokenCustomization,
  handler,
  OPERATOR_SCOPE,
  OPERATORS_GROUP,
  POOL_OPERATOR_CLAIM,
  TENANT_SCOPES,
} from '../../infra/cognito/pre-token';
import { principalFromClaims } from '../../shared/service/principal';

/** A V2 event as Cognito sends it for a hosted-UI sign-in (the parts the trigger reads). */
function event(
  userAttributes: Record<string, string>,
  groups: string[] = [],
): PreTokenGenerationV2TriggerEvent {
  return {
    version: '2',
    triggerSource: 'TokenGeneration_HostedAuth',
    region: 'eu-west-1',
    userPoolId: 'eu-west-1_AbCdEf123',
    userName: 'u1',
    callerContext: { awsSdkVersion: 'aws-sdk-unknown-unknown', clientId: 'ui-client' },
    request: {
      userAttributes: { sub: 'u1', email: 'alice@example.com', ...userAttributes },
      groupConfiguration: { groupsToOverride: groups, iamRolesToOverride: [], preferredRole: undefined },
      scopes: ['openid', 'email'],
    },
    response: { claimsAndScopeOverrideDetails: {} },
  } as PreTokenGenerationV2TriggerEvent;
}

/**
 * The access token's claims as the handlers get them from API Gateway's JWT authorizer: Cognito
 * appends the added scopes to `scope` (space-separated) and passes `cognito:groups` as "[a b]".
 */
async function claimsAfterTrigger(e: PreTokenGenerationV2TriggerEvent): Promise<Record<string, unknown>> {
  const out = await handler(e);
  const access = out.response.claimsAndScopeOverrideDetails.accessTokenGeneration ?? {};
  const groups = e.request.groupConfiguration.groupsToOverride ?? [];
  return {
    sub: e.request.userAttributes.sub,
    client_id: 'ui-client',
    token_use: 'access',
    scope: [...(e.request.scopes ?? []), ...(access.scopesToAdd ?? [])].join(' '),
    ...(groups.length ? { 'cognito:groups': `[${groups.join(' ')}]` } : {}),
    ...access.claimsToAddOrOverride,
  };
}

const [operatorName, operatorValue] = POOL_OPERATOR_CLAIM.split('=') as [string, string];
const principalOf = (claims: Record<string, unknown>, tenantClaim = 'tenant') =>
  principalFromClaims(claims, tenantClaim, { name: operatorName, value: operatorValue });

afterEach(() => {
  delete process.env.TENANT_CLAIM;
});

describe('Cognito pre-token trigger (the stack-created user pool)', () => {
  it("copies a member's custom:tenant into the tenant claim and grants the tenant scopes", async () => {
    const claims = await claimsAfterTrigger(event({ 'custom:tenant': 'acme' }));
    expect(claims.tenant).toBe('acme');
    expect(claims.scope).toBe('openid email storage:upload storage:download storage:delete');
    const principal = principalOf(claims);
    expect(principal?.tenant).toBe('acme');
    expect([...(principal?.permissions ?? [])].sort()).toEqual(['delete', 'download', 'upload']);
  });

  it('makes operators of the storage-operators group only (storage:manage and the group claim)', async () => {
    const operator = principalOf(await claimsAfterTrigger(event({}, ['admins', OPERATORS_GROUP])));
    expect([...(operator?.permissions ?? [])]).toEqual(['manage']);
    expect(operator?.tenant).toBeUndefined();
    // An operator who is also a tenant member gets both.
    const both = principalOf(await claimsAfterTrigger(event({ 'custom:tenant': 'acme' }, [OPERATORS_GROUP])));
    expect([...(both?.permissions ?? [])].sort()).toEqual(['delete', 'download', 'manage', 'upload']);
    // Another group is nothing.
    const other = await claimsAfterTrigger(event({ 'custom:tenant': 'acme' }, ['storage-operators-not']));
    expect(String(other.scope)).not.toContain(OPERATOR_SCOPE);
  });

  it('grants nothing to a user without a (valid) tenant, and never writes a malformed one', async () => {
    const cases: Record<string, string>[] = [{}, { 'custom:tenant': '../other' }, { 'custom:tenant': 'a b' }];
    for (const attributes of cases) {
      const claims = await claimsAfterTrigger(event(attributes));
      expect(claims.tenant, JSON.stringify(attributes)).toBeUndefined();
      expect(claims.scope).toBe('openid email');
      // A signed-in user with no permission: the handlers answer 403, not 401.
      expect(principalOf(claims)?.permissions.size).toBe(0);
    }
    expect(accessTokenCustomization({ 'custom:tenant': 'x'.repeat(65) }, [], 'tenant')).toEqual({
      claimsToAddOrOverride: {},
      scopesToAdd: [],
    });
  });

  it('writes the claim the service reads (TENANT_CLAIM), and only into the access token', async () => {
    process.env.TENANT_CLAIM = 'org';
    const e = await handler(event({ 'custom:tenant': 'acme' }));
    expect(e.response.claimsAndScopeOverrideDetails).toEqual({
      accessTokenGeneration: { claimsToAddOrOverride: { org: 'acme' }, scopesToAdd: [...TENANT_SCOPES] },
    });
    expect(principalOf(await claimsAfterTrigger(event({ 'custom:tenant': 'acme' })), 'org')?.tenant).toBe(
      'acme',
    );
  });
});
