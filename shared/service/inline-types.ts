import type { Disposition } from './read';

/**
 * Types a browser shows without running anything of the file's own: pictures (not SVG, which is a
 * document with scripts), sound, video, plain text, JSON and PDF (whose scripts run inside the
 * viewer's sandbox, not the page). Everything else (HTML, SVG, XML, JavaScript, and any type not
 * listed) is served as an attachment on every path, because a presigned GET answers from the
 * bucket's origin, where the API's `sandbox` CSP does not reach.
 */
const INLINE_SAFE = new Set([
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'image/avif',
  'image/bmp',
  'image/apng',
  'image/x-icon',
  'image/vnd.microsoft.icon',
  'audio/mpeg',
  'audio/ogg',
  'audio/wav',
  'audio/webm',
  'audio/aac',
  'audio/flac',
  'audio/mp4',
  'video/mp4',
  'video/webm',
  'video/ogg',
  'text/plain',
  'application/json',
  'application/pdf',
]);

/** `Text/Plain; charset=utf-8` -> `text/plain`; null when it is not one type/subtype. */
export function essenceOf(contentType: string): string | null {
  const essence = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(essence) ? essence : null;
}

export const isInlineSafe = (contentType: string) => INLINE_SAFE.has(essenceOf(contentType) ?? '');

/** The disposition a file is served with: inline only where asked for and the type is safe. */
export const servedDisposition = (contentType: string, requested: Disposition): Disposition =>
  requested === 'inline' && isInlineSafe(contentType) ? 'inline' : 'attachment';
