import { jwtVerify, SignJWT } from 'jose';

export const LOCAL_ISSUER = 'local-dev';
export const ALL_SCOPES = 'storage:upload storage:download storage:delete storage:manage';

export async function signDevToken(
  secret: string,
  claims: { tenant: string; user: string; scope?: string; expiresIn?: string },
): Promise<string> {
  return new SignJWT({ tenant: claims.tenant, scope: claims.scope ?? ALL_SCOPES })
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
