/**
 * The page's settings, read at startup from `config.json` next to index.html: the local server
 * answers it, in AWS the stack writes it (infra/constructs/ui-hosting.ts). Types only, so the stack
 * can share them without the page's browser code.
 */
export interface OidcSettings {
  issuer: string;
  clientId: string;
  scopes: string[];
  /** Absent: read from `${issuer}/.well-known/openid-configuration`. */
  authorizationEndpoint?: string;
  tokenEndpoint?: string;
  logoutEndpoint?: string;
}

export interface UiConfig {
  /** The API's base URL; "" = the page's own origin. */
  apiUrl: string;
  /** The OIDC issuer to sign in with (authorization code + PKCE); null: token paste (and the dev token) only. */
  auth: OidcSettings | null;
  /** One machine only: a URL answering `{ token }`, a ready dev token. */
  devTokenUrl: string | null;
}
