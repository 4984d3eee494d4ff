import { useEffect, useState } from 'preact/hooks';
import type { UiConfig } from '../config';
import { toUiError, type UiError } from '../error-messages';
import { completeSignIn, signOutAtIssuer } from '../oidc';
import { clearSession, loadSession, type Session, saveSession } from '../session';
import { FileBrowser } from './file-browser';
import { SignIn } from './sign-in';

const carriesSignInAnswer = () => /[?&](code|error)=/.test(window.location.search);

/** Signed out: the sign-in screen. Signed in: the file browser, made anew for each token. */
export function App({ config }: { config: UiConfig }) {
  const [session, setSession] = useState<Session | null>(loadSession);
  const [error, setError] = useState<UiError | null>(null);
  const [completing, setCompleting] = useState(() => config.auth !== null && carriesSignInAnswer());

  useEffect(() => {
    if (!config.auth || !completing) return;
    completeSignIn(config.auth)
      .then((s) => s && signIn(s))
      .catch((e: unknown) => setError(toUiError(e)))
      .finally(() => setCompleting(false));
  }, []);

  function signIn(s: Session) {
    saveSession(s);
    setError(null);
    setSession(s);
  }

  /** With a reason (an UNAUTHORIZED answer), the sign-in screen says why; without, the person chose to. */
  function signOut(reason?: UiError) {
    const ended = session;
    clearSession();
    setSession(null);
    setError(reason ?? null);
    if (!reason && config.auth && ended?.via === 'oidc') void signOutAtIssuer(config.auth, ended);
  }

  if (completing) {
    return (
      <main class="sign-in">
        <p role="status">Signing in…</p>
      </main>
    );
  }
  if (!session) return <SignIn config={config} error={error} onSignedIn={signIn} />;
  return <FileBrowser key={session.token} config={config} session={session} onSignOut={signOut} />;
}
