import { AppError } from './errors';

export const MAX_PATH_BYTES = 1024;

/**
 * Validates a logical file path (the part after the tenant) and returns it NFC-normalized, so that
 * "é" typed as one code point or as e + combining accent names the same file. Every rule is checked
 * before anything touches a backend.
 */
export function normalizePath(input: string | undefined | null): string {
  if (input === undefined || input === null || input === '') {
    throw new AppError('PATH_REQUIRED', 'A file path is required');
  }
  // A path must be one clean string: U+FFFD is what undecodable bytes turn into (form fields, and any
  // lossy URL decoding in front of a Lambda) and a lone surrogate is not text at all (JSON allows
  // one), so either would let many byte sequences name one file. Escapes are checked in routes.ts.
  if (/[\p{Cs}\uFFFD]/u.test(input)) {
    throw new AppError('INVALID_PATH_ENCODING', 'The path is not valid UTF-8 text (or contains U+FFFD)');
  }
  const path = input.normalize('NFC');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what we reject
  if (/[\u0000-\u001f\u007f]/.test(path)) {
    throw new AppError('PATH_CONTROL_CHARACTER', 'The path contains NUL or control characters');
  }
  if (path.includes('\\')) throw new AppError('PATH_BACKSLASH', 'The path contains a backslash; use "/"');
  if (path.startsWith('/')) throw new AppError('PATH_ABSOLUTE', 'The path must be relative (no leading "/")');
  if (Buffer.byteLength(path, 'utf8') > MAX_PATH_BYTES) {
    throw new AppError('PATH_TOO_LONG', `The path is longer than ${MAX_PATH_BYTES} bytes`);
  }
  const segments = path.split('/');
  for (const segment of segments) {
    if (segment === '..' || segment === '.') {
      throw new AppError('PATH_TRAVERSAL', 'The path contains "." or ".." segments');
    }
    if (segment === '')
      throw new AppError('PATH_EMPTY_SEGMENT', 'The path contains an empty segment ("//" or a trailing "/")');
  }
  return path;
}

/** A listing prefix: the same rules as a path, except that it may be empty or end with "/". */
export function normalizePrefix(input: string | undefined): string {
  if (!input) return '';
  const trailing = input.endsWith('/');
  const body = normalizePath(trailing ? input.slice(0, -1) : input);
  return trailing ? `${body}/` : body;
}

export const baseName = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

/** The extension with its dot, lower-cased, or '' (kept short: it ends up in backend keys). */
export function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || dot === name.length - 1) return '';
  const ext = name.slice(dot).toLowerCase();
  return /^\.[a-z0-9]{1,16}$/.test(ext) ? ext : '';
}
