/**
 * The signed-in token, kept in sessionStorage: it survives a reload of the tab (and the OIDC
 * redirect) but not the tab itself, and no other site can read it.
 */
export interface Session {
  /** The bearer token every API call sends (the OIDC access token, the dev token, or a pasted one). */
  token: string;
  via: 'oidc' | 'dev' | 'paste';
  /** OIDC only: the id token, as a hint for the issuer's logout. */
  idToken?: string;
}

const KEY = 'file-browser.session';

export function loadSession(): Session | null {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Session | null;
    return s && typeof s.token === 'string' && s.token ? s : null;
  } catch {
    return null;
  }
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function clearSession(): void {
  sessionStorage.removeItem(KEY);
}

/** A pasted token, trimmed of what copying adds ("Bearer ", quotes, whitespace). */
export function cleanPastedToken(text: string): string {
  return text
    .trim()
    .replace(/^Bearer\s+/i, '')
    .replace(/^["']|["']$/g, '')
    .trim();
}
