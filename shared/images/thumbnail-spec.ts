import { AppError } from '../errors';
import { fileTypeOf } from '../file-type';

/**
 * What a thumbnail is, without rendering it (no sharp here: links and previews use this too):
 * its parameters and their checks, the formats, variant names, and the source's format by its
 * magic bytes. Rendering is ./render.ts.
 */

export const FITS = ['cover', 'contain', 'fill', 'inside'] as const;
export type Fit = (typeof FITS)[number];
/** `auto`: WebP where the Accept header allows it, else JPEG (or PNG for sources that may have alpha). */
export const FORMATS = ['auto', 'webp', 'avif', 'jpeg', 'png', 'origin'] as const;
export type RequestedFormat = (typeof FORMATS)[number];
export type OutputFormat = 'webp' | 'avif' | 'jpeg' | 'png' | 'gif';

/** What a thumbnail request asks for, normalized (defaults filled in). */
export interface ThumbnailSpec {
  width: number;
  height: number;
  fit: Fit;
  format: RequestedFormat;
  quality: number;
}

export const DEFAULT_SPEC: ThumbnailSpec = {
  width: 120,
  height: 120,
  fit: 'cover',
  format: 'auto',
  quality: 80,
};
export const MAX_DIMENSION = 2048;

/**
 * Source formats rendered, by the extension file-type gives their magic bytes. HEIC (HEVC) is
 * recognized so it can be refused clearly: sharp's prebuilt libvips decodes AVIF but not HEVC.
 */
const IMAGE_FORMATS: Record<string, OutputFormat | 'tiff' | 'heic'> = {
  jpg: 'jpeg',
  png: 'png',
  webp: 'webp',
  gif: 'gif',
  avif: 'avif',
  tif: 'tiff',
  heic: 'heic',
};
export type SourceFormat = (typeof IMAGE_FORMATS)[string];

const MIME: Record<OutputFormat, string> = {
  webp: 'image/webp',
  avif: 'image/avif',
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
};
export const mimeOf = (format: OutputFormat) => MIME[format];

function intParam(
  raw: string | undefined,
  name: string,
  min: number,
  max: number,
  fallback: number,
  code: 'INVALID_THUMBNAIL_SIZE' | 'INVALID_THUMBNAIL_QUALITY',
): number {
  if (raw === undefined || raw === '') return fallback;
  const value = /^\d{1,6}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(value >= min && value <= max)) {
    throw new AppError(code, `${name} must be a whole number from ${min} to ${max}`);
  }
  return value;
}

/** The query of a thumbnail request (or a link's thumbnail options) as a spec; bad values are 400 with their own codes. */
export function parseThumbnailSpec(query: Record<string, string | undefined>): ThumbnailSpec {
  const fit = query.fit || DEFAULT_SPEC.fit;
  if (!(FITS as readonly string[]).includes(fit)) {
    throw new AppError('INVALID_THUMBNAIL_FIT', `fit must be one of ${FITS.join(', ')}`);
  }
  const format = query.format || DEFAULT_SPEC.format;
  if (!(FORMATS as readonly string[]).includes(format)) {
    throw new AppError('INVALID_THUMBNAIL_FORMAT', `format must be one of ${FORMATS.join(', ')}`);
  }
  return {
    width: intParam(query.width, 'width', 1, MAX_DIMENSION, DEFAULT_SPEC.width, 'INVALID_THUMBNAIL_SIZE'),
    height: intParam(query.height, 'height', 1, MAX_DIMENSION, DEFAULT_SPEC.height, 'INVALID_THUMBNAIL_SIZE'),
    fit: fit as Fit,
    format: format as RequestedFormat,
    quality: intParam(query.quality, 'quality', 20, 100, DEFAULT_SPEC.quality, 'INVALID_THUMBNAIL_QUALITY'),
  };
}

/** The spec as query parameters, in one fixed order (links carry exactly these). */
export const specQuery = (spec: ThumbnailSpec): Record<string, string> => ({
  width: String(spec.width),
  height: String(spec.height),
  fit: spec.fit,
  format: spec.format,
  quality: String(spec.quality),
});

/** One line per spec, the same for equal specs: what a link's signature binds. */
export const canonicalSpec = (spec: ThumbnailSpec) =>
  `${spec.width}x${spec.height} ${spec.fit} ${spec.format} q${spec.quality}`;

/** The image format the magic bytes show, or undefined for anything that is not an image this renders. */
export async function sniffImage(head: Buffer): Promise<SourceFormat | undefined> {
  const ext = (await fileTypeOf(head))?.ext;
  return ext ? IMAGE_FORMATS[ext] : undefined;
}

/** Whether a media type (RFC 9110 Accept syntax) is accepted with a non-zero weight. */
function accepts(accept: string | undefined, type: string): boolean {
  if (!accept) return false;
  return accept.split(',').some((entry) => {
    const [range, ...params] = entry.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return range?.trim() === type && (q === undefined || Number(q.slice(2)) > 0);
  });
}

/**
 * The format a thumbnail is encoded in. `auto` picks WebP when the client accepts it (fast to
 * encode, small), else JPEG, or PNG for sources that may carry transparency; explicit formats are
 * honoured; `origin` keeps the source's format where sharp writes it (TIFF becomes PNG).
 */
export function outputFormat(
  requested: RequestedFormat,
  accept: string | undefined,
  source: SourceFormat,
): OutputFormat {
  if (requested === 'origin') return source === 'tiff' || source === 'heic' ? 'png' : source;
  if (requested !== 'auto') return requested;
  if (accepts(accept, 'image/webp')) return 'webp';
  return source === 'jpeg' ? 'jpeg' : 'png';
}

/**
 * The name of a rendered variant: every parameter that changes its bytes, normalized, so equal
 * requests share one cached derivative and no two requests with different output share one.
 */
export const variantName = (spec: ThumbnailSpec, format: OutputFormat) =>
  `${spec.width}x${spec.height}-${spec.fit}-q${spec.quality}.${format}`;
