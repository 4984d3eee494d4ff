/** PKCE (RFC 7636) with S256, and the random state of an authorization request. */

const base64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

/** 32 random bytes, base64url: 43 characters, the verifier's minimum length and plenty of entropy. */
export const randomToken = () => base64url(crypto.getRandomValues(new Uint8Array(32)));

export async function s256Challenge(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}
