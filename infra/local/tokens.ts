import { jwtVerify, SignJWT } from 'jose';

export const LOCAL_ISSUER = 'local-dev';
/** What a tenant member's token may do: the default dev token. */
export const TENANT_SCOPES = 'storage:upload storage:download storage:delete';
/** The one-machine runtime's operator identity (OPERATOR_CLAIM), unless the environment names another. */
export const LOCAL_OPERATOR_CLAIM = 'storage_role=operator';

export const operatorClaimSetting = () => process.env.OPERATOR_CLAIM || LOCAL_OPERATOR_CLAIM;

export async function signDevToken(
  secret: string,
  claims: {
    /** absent only for operator tokens, which act on any tenant and own none */
    tenant?: string;
    user: string;
    scope?: string;
    /** an operator token: the storage:manage scope and the operator claim */
    operator?: boolean;
    /** further claims, as an identity provider would add them */
    extra?: Record<string, unknown>;
    expiresIn?: string;
  },
): Promise<string> {
  const payload: Record<string, unknown> = { ...claims.extra };
  if (claims.tenant !== undefined) payload.tenant = claims.tenant;
  payload.scope = claims.scope ?? (claims.operator ? 'storage:manage' : TENANT_SCOPES);
  if (claims.operator) {
    const [name, value] = operatorClaimSetting().split('=') as [string, string];
    payload[name] = value;
  }
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(claims.user)
    .setIssuer(LOCAL_ISSUER)
    .setIssuedAt()
    .setExpirationTime(claims.expiresIn ?? '12h')
    .sign(new TextEncoder().encode(secret));
}

/** Verifies a dev token the way the API Gateway JWT authorizer verifies a real one; null if invalid. */
export async function verifyDevToken(secret: string, token: string): Promise<Record<string, unknown> | null> {
  try {
    const { payload } = await jwtVerify(token, new TextEncoder().encode(secret), {
      issuer: LOCAL_ISSUER,
      algorithms: ['HS256'],
    });
    return payload as Record<string, unknown>;
  } catch {
    return null;
  }
}
