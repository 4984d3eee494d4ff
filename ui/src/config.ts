import type { OidcSettings, UiConfig } from './config-types';

export type { OidcSettings, UiConfig };

const isString = (v: unknown): v is string => typeof v === 'string';
const optionalString = (v: unknown) => v === undefined || isString(v);

/** The settings, checked: a broken config.json is a deployment error, said so rather than half-used. */
export function parseConfig(value: unknown): UiConfig {
  const v = value as Partial<Record<keyof UiConfig, unknown>> | null;
  if (typeof v !== 'object' || v === null) throw new Error('config.json is not a JSON object');
  if (!isString(v.apiUrl)) throw new Error('config.json: apiUrl must be a string');
  if (v.devTokenUrl !== null && !isString(v.devTokenUrl)) {
    throw new Error('config.json: devTokenUrl must be a string or null');
  }
  let auth: OidcSettings | null = null;
  if (v.auth !== null && v.auth !== undefined) {
    const a = v.auth as Partial<Record<keyof OidcSettings, unknown>>;
    const scopesOk = Array.isArray(a.scopes) && a.scopes.every(isString);
    if (
      !isString(a.issuer) ||
      !isString(a.clientId) ||
      !scopesOk ||
      !optionalString(a.authorizationEndpoint) ||
      !optionalString(a.tokenEndpoint) ||
      !optionalString(a.logoutEndpoint)
    ) {
      throw new Error('config.json: auth needs issuer, clientId and scopes (and string endpoints, if any)');
    }
    auth = a as OidcSettings;
  }
  return { apiUrl: v.apiUrl, auth, devTokenUrl: v.devTokenUrl ?? null };
}

/** config.json beside index.html: the script lives in `ui/` below it, wherever the page is served. */
export async function loadConfig(): Promise<UiConfig> {
  const response = await fetch(new URL('../config.json', import.meta.url), { cache: 'no-store' });
  if (!response.ok) throw new Error(`config.json answered HTTP ${response.status}`);
  return parseConfig(await response.json());
}

/** The API's base URL for the SDK. */
export const apiBaseUrl = (config: UiConfig) => config.apiUrl || window.location.origin;
