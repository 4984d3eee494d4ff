import type { OidcSettings } from './config';
import { randomToken, s256Challenge } from './pkce';
import type { Session } from './session';

/**
 * Sign-in with any OIDC issuer (Cognito included): the authorization-code flow with PKCE (S256),
 * as a public client in the browser (no secret). The page redirects to the issuer and is
 * redirected back to itself (its origin + path) with `code` and `state`; the state is checked
 * against the one kept in sessionStorage before the code is exchanged, so a forged redirect signs
 * no one in. The access token is the bearer token of the API.
 */

interface Endpoints {
  authorization: string;
  token: string;
  logout?: string;
}

interface PendingSignIn {
  state: string;
  verifier: string;
  redirectUri: string;
}

const PENDING_KEY = 'file-browser.oidc-pending';

/** Where the issuer sends the browser back: this very page, without query or fragment. */
export const redirectUri = () => `${window.location.origin}${window.location.pathname}`;

async function endpoints(auth: OidcSettings): Promise<Endpoints> {
  if (auth.authorizationEndpoint && auth.tokenEndpoint) {
    return {
      authorization: auth.authorizationEndpoint,
      token: auth.tokenEndpoint,
      ...(auth.logoutEndpoint ? { logout: auth.logoutEndpoint } : {}),
    };
  }
  const url = `${auth.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const response = await fetch(url);
  if (!response.ok) throw new Error(`The issuer's discovery document answered HTTP ${response.status}`);
  const doc = (await response.json()) as Record<string, unknown>;
  const authorization = auth.authorizationEndpoint ?? doc.authorization_endpoint;
  const token = auth.tokenEndpoint ?? doc.token_endpoint;
  const logout = auth.logoutEndpoint ?? doc.end_session_endpoint;
  if (typeof authorization !== 'string' || typeof token !== 'string') {
    throw new Error('The issuer names no authorization or token endpoint');
  }
  return { authorization, token, ...(typeof logout === 'string' ? { logout } : {}) };
}

/** Leaves the page for the issuer's sign-in. */
export async function startSignIn(auth: OidcSettings): Promise<void> {
  const { authorization } = await endpoints(auth);
  const pending: PendingSignIn = {
    state: randomToken(),
    verifier: randomToken(),
    redirectUri: redirectUri(),
  };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const url = new URL(authorization);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: auth.clientId,
    redirect_uri: pending.redirectUri,
    scope: auth.scopes.join(' '),
    state: pending.state,
    code_challenge: await s256Challenge(pending.verifier),
    code_challenge_method: 'S256',
  }).toString();
  window.location.assign(url.toString());
}

/** An error of the sign-in itself (not of the API): said as the issuer said it. */
export class SignInError extends Error {
  override readonly name = 'SignInError';
}

/**
 * On the page's load: when the URL carries the issuer's answer, checks the state, exchanges the
 * code and returns the session (the URL is cleaned either way). Null when there is no answer.
 */
export async function completeSignIn(auth: OidcSettings): Promise<Session | null> {
  const params = new URLSearchParams(window.location.search);
  const code = params.get('code');
  const error = params.get('error');
  if (!code && !error) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) ?? 'null') as PendingSignIn | null;
  sessionStorage.removeItem(PENDING_KEY);
  // The code is single-use and the URL may be bookmarked or reloaded: take it out at once.
  window.history.replaceState(null, '', `${window.location.pathname}${window.location.hash}`);
  if (error) {
    throw new SignInError(`The issuer refused the sign-in: ${params.get('error_description') ?? error}`);
  }
  if (!pending || params.get('state') !== pending.state) {
    throw new SignInError('The sign-in answer does not match a sign-in started here (state); sign in again');
  }
  const { token } = await endpoints(auth);
  const response = await fetch(token, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: code as string,
      redirect_uri: pending.redirectUri,
      client_id: auth.clientId,
      code_verifier: pending.verifier,
    }),
  });
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok || typeof body.access_token !== 'string') {
    const reason = typeof body.error === 'string' ? body.error : `HTTP ${response.status}`;
    throw new SignInError(`The issuer did not hand out a token (${reason})`);
  }
  return {
    token: body.access_token,
    via: 'oidc',
    ...(typeof body.id_token === 'string' ? { idToken: body.id_token } : {}),
  };
}

/**
 * Ends the issuer's session too, when it has a logout endpoint: OIDC's `post_logout_redirect_uri`
 * (with the id token as hint) and Cognito's `logout_uri` both bring the browser back here.
 */
export async function signOutAtIssuer(auth: OidcSettings, session: Session): Promise<void> {
  const { logout } = await endpoints(auth).catch(() => ({ logout: undefined }));
  if (!logout) return;
  const url = new URL(logout);
  url.searchParams.set('client_id', auth.clientId);
  url.searchParams.set('post_logout_redirect_uri', redirectUri());
  url.searchParams.set('logout_uri', redirectUri());
  if (session.idToken) url.searchParams.set('id_token_hint', session.idToken);
  window.location.assign(url.toString());
}
