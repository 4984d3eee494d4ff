import { isStorageApiError } from './sdk';

/** What the UI shows for a failure: a sentence for people, and the code for support and logs. */
export interface UiError {
  code: string;
  text: string;
  /** The service's own message, shown as detail. */
  detail?: string;
}

/** Plain sentences for the codes a user of the browser meets; anything else gets the generic one. */
const MESSAGES: Record<string, string> = {
  UNAUTHORIZED: 'You are not signed in, or your sign-in has expired. Sign in again.',
  FORBIDDEN: 'Your account is not allowed to do this.',
  NOT_FOUND: 'The file is not there any more: it may have been deleted, or it expired.',
  QUOTA_EXCEEDED: 'Your storage quota is full. Delete some files, or ask an operator for more space.',
  FILE_TOO_LARGE: 'The file is larger than the service accepts.',
  UNSUPPORTED_MEDIA_TYPE: 'This type of file is not allowed here.',
  ALREADY_EXISTS: 'A file with this name already exists, and this upload was set not to replace it.',
  INVALID_LINK: 'The link is invalid or has expired.',
  SERVICE_BUSY: 'The service is busy right now. Try again in a moment.',
  BACKEND_UNAVAILABLE: 'The storage cannot be reached right now. Try again in a moment.',
  BACKEND_ERROR: 'The storage failed to do this. Try again; if it keeps failing, tell support.',
  THROTTLED: 'Too many requests at once. Wait a moment and try again.',
  UPLOAD_TIMEOUT: 'The upload stalled and was stopped. Check your connection and retry.',
  UPLOAD_NOT_FOUND: 'The upload is not known any more (it was cancelled or took too long). Start it again.',
  UPLOAD_INCOMPLETE: 'Not all of the file arrived. Retry the upload.',
  MD5_MISMATCH: 'The file changed or was damaged on its way. Retry the upload.',
  PATH_TOO_LONG: 'The name (with its folders) is too long.',
  PATH_TRAVERSAL: 'A name cannot be "." or "..".',
  PATH_BACKSLASH: 'A name cannot contain a backslash.',
  PATH_CONTROL_CHARACTER: 'A name cannot contain control characters.',
  PATH_EMPTY_SEGMENT: 'A folder name cannot be empty.',
  INVALID_PATH_ENCODING: 'The name is not valid text.',
  UNKNOWN_STORAGE: 'The storage this page is set up for does not exist.',
  IMAGE_TOO_LARGE: 'The image is too large for a thumbnail.',
  UNSUPPORTED_IMAGE: 'No thumbnail can be made of this kind of image.',
  INVALID_IMAGE: 'The image cannot be read: it may be damaged.',
  INTERNAL: 'Something went wrong in the service. Try again; if it keeps failing, tell support.',
  // Not the API's: failures before an answer.
  NETWORK: 'The service cannot be reached. Check your connection and try again.',
  SIGN_IN: 'Signing in did not work.',
};

const GENERIC = 'The request failed.';

export const messageFor = (code: string) => MESSAGES[code] ?? GENERIC;

/** Any thrown value as a UiError: the API's code, a network failure, or the error's own words. */
export function toUiError(e: unknown): UiError {
  if (isStorageApiError(e)) {
    const wait = e.retryAfterSeconds && e.status >= 429 ? ` (try again in ${e.retryAfterSeconds} s)` : '';
    return { code: e.code, text: `${messageFor(e.code)}${wait}`, detail: e.message };
  }
  // fetch rejects with a TypeError when no answer came at all (offline, DNS, CORS, reset).
  if (e instanceof TypeError) return { code: 'NETWORK', text: messageFor('NETWORK'), detail: e.message };
  if (e instanceof Error && e.name === 'SignInError') {
    return { code: 'SIGN_IN', text: messageFor('SIGN_IN'), detail: e.message };
  }
  return { code: 'ERROR', text: GENERIC, detail: e instanceof Error ? e.message : String(e) };
}

/** An abort the user asked for (cancel, leaving a folder): not an error to show. */
export const isAbort = (e: unknown) => e instanceof DOMException && e.name === 'AbortError';
