import { useState } from 'preact/hooks';
import { isAbort, toUiError, type UiError } from './error-messages';

export interface ShownError extends UiError {
  id: number;
}

let nextId = 1;

/**
 * The page's error messages. An UNAUTHORIZED answer is no message here: it ends the session, and
 * the sign-in screen says why.
 */
export function useErrors(onUnauthorized: (error: UiError) => void) {
  const [errors, setErrors] = useState<ShownError[]>([]);
  const report = (e: unknown) => {
    if (isAbort(e)) return;
    const error = toUiError(e);
    if (error.code === 'UNAUTHORIZED') return onUnauthorized(error);
    setErrors((list) => [
      // The same failure twice (a refresh that fails again) is one message.
      ...list.filter((x) => x.code !== error.code || x.text !== error.text),
      { ...error, id: nextId++ },
    ]);
  };
  const dismiss = (id: number) => setErrors((list) => list.filter((x) => x.id !== id));
  return { errors, report, dismiss };
}
