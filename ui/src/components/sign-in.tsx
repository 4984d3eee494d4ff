import { useState } from 'preact/hooks';
import type { UiConfig } from '../config';
import { toUiError, type UiError } from '../error-messages';
import { startSignIn } from '../oidc';
import { cleanPastedToken, type Session } from '../session';
import { ErrorNote } from './error-note';

interface Props {
  config: UiConfig;
  error: UiError | null;
  onSignedIn: (session: Session) => void;
}

/**
 * The ways in: the issuer's sign-in (OIDC, when configured), the dev token (one machine only),
 * and always a pasted token, for any issuer and for scripts' tokens.
 */
export function SignIn({ config, error, onSignedIn }: Props) {
  const [pasted, setPasted] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<UiError | null>(null);
  const shown = problem ?? error;

  const attempt = async (task: () => Promise<void>) => {
    setBusy(true);
    setProblem(null);
    try {
      await task();
    } catch (e) {
      setProblem(toUiError(e));
    } finally {
      setBusy(false);
    }
  };

  const useDevToken = () =>
    attempt(async () => {
      // Not the API: the local server's helper that hands out its ready dev token.
      const response = await fetch(config.devTokenUrl as string, { cache: 'no-store' });
      const body = (await response.json().catch(() => ({}))) as { token?: unknown };
      if (!response.ok || typeof body.token !== 'string') {
        throw new Error(`The dev token URL answered HTTP ${response.status}`);
      }
      onSignedIn({ token: body.token, via: 'dev' });
    });

  const usePasted = (e: Event) => {
    e.preventDefault();
    const token = cleanPastedToken(pasted);
    if (!token) {
      setProblem({ code: 'SIGN_IN', text: 'Paste a token first.' });
      return;
    }
    onSignedIn({ token, via: 'paste' });
  };

  const issuerHost = config.auth ? new URL(config.auth.issuer).host : '';
  return (
    <main class="sign-in" aria-labelledby="sign-in-title">
      <h1 id="sign-in-title">Files</h1>
      <p class="lead">Sign in to browse, upload and share your files.</p>
      {shown && <ErrorNote error={shown} />}
      <div class="sign-in-options">
        {config.auth && (
          <button
            type="button"
            class="primary"
            disabled={busy}
            onClick={() => attempt(() => startSignIn(config.auth as NonNullable<UiConfig['auth']>))}
          >
            Sign in with {issuerHost}
          </button>
        )}
        {config.devTokenUrl && (
          <button type="button" class={config.auth ? '' : 'primary'} disabled={busy} onClick={useDevToken}>
            Use the dev token
          </button>
        )}
      </div>
      <form class="token-form" onSubmit={usePasted}>
        <label for="token-input">Or paste an access token</label>
        <textarea
          id="token-input"
          rows={3}
          spellcheck={false}
          autocomplete="off"
          placeholder="eyJhbGciOi…"
          value={pasted}
          onInput={(e) => setPasted(e.currentTarget.value)}
        />
        <button type="submit" disabled={busy}>
          Sign in with this token
        </button>
      </form>
    </main>
  );
}
