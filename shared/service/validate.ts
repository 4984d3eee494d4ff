import { getConfig } from '../config';
import { AppError } from '../errors';
import type { OnConflict, Visibility } from '../metadata/items';

export const MAX_EXPIRES_SECONDS = 10 * 365 * 24 * 3600;

/** `expires` in seconds from now: a positive integer, at most ten years. */
export function parseExpires(value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const text = String(value);
  if (!/^-?\d+$/.test(text))
    throw new AppError('INVALID_EXPIRES', 'expires must be a whole number of seconds');
  const n = Number(text);
  if (n <= 0) throw new AppError('INVALID_EXPIRES', 'expires must be positive');
  if (n > MAX_EXPIRES_SECONDS) throw new AppError('INVALID_EXPIRES', 'expires must be at most ten years');
  return n;
}

export const MD5_PATTERN = /^[0-9a-fA-F]{32}$/;

export function parseMd5(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const text = String(value);
  if (!MD5_PATTERN.test(text)) throw new AppError('INVALID_MD5', 'md5 must be 32 hexadecimal characters');
  return text.toLowerCase();
}

export function parseVisibility(value: unknown): Visibility {
  if (value === undefined || value === null || value === '') return 'private';
  if (value === 'private' || value === 'public') return value;
  throw new AppError('INVALID_REQUEST', 'visibility must be private or public');
}

export function parseOnConflict(value: unknown): OnConflict {
  if (value === undefined || value === null || value === '') return 'overwrite';
  if (value === 'overwrite' || value === 'rename' || value === 'fail') return value;
  throw new AppError('INVALID_REQUEST', 'onConflict must be overwrite, rename or fail');
}

/** The media type without parameters, lower-cased; application/octet-stream when absent. */
export function normalizeContentType(value: string | undefined): string {
  const type = (value ?? '').split(';')[0]?.trim().toLowerCase();
  if (!type) return 'application/octet-stream';
  if (!/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type)) {
    throw new AppError(
      'UNSUPPORTED_MEDIA_TYPE',
      `Content type ${JSON.stringify(type)} is not a valid media type`,
    );
  }
  return type;
}

/** Allowed types come from configuration, with wildcards such as image/* or *\/*. */
export function assertTypeAllowed(contentType: string): void {
  const [major] = contentType.split('/');
  const ok = getConfig().allowedContentTypes.some(
    (allowed) => allowed === '*/*' || allowed === contentType || allowed === `${major}/*`,
  );
  if (!ok) throw new AppError('UNSUPPORTED_MEDIA_TYPE', `Content type ${contentType} is not allowed`);
}

export function assertSize(size: number | undefined, max: number): void {
  if (size !== undefined && size > max) {
    throw new AppError('FILE_TOO_LARGE', `The file is larger than the limit of ${max} bytes`);
  }
}
