import type { UiError } from '../error-messages';

/** One error as people read it: the sentence, the code (for support), the service's own words. */
export function ErrorNote({ error, onDismiss }: { error: UiError; onDismiss?: () => void }) {
  return (
    <div class="error-note" data-code={error.code}>
      <p>
        <strong>{error.text}</strong> <code class="error-code">{error.code}</code>
      </p>
      {error.detail && error.detail !== error.text && <p class="error-detail">{error.detail}</p>}
      {onDismiss && (
        <button type="button" class="icon-button" aria-label="Dismiss this message" onClick={onDismiss}>
          ×
        </button>
      )}
    </div>
  );
}
