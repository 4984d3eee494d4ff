import type { FitEnum, Sharp, SharpOptions } from 'sharp';
import { AppError } from '../errors';
import type { OutputFormat, SourceFormat, ThumbnailSpec } from './thumbnail-spec';

/**
 * Thumbnails with sharp (libvips). Untrusted input is bounded before and while it is decoded: the
 * source's bytes (checked by the caller from the record), its format (by magic bytes, before this
 * runs: SVG and every format outside thumbnail-spec's IMAGE_FORMATS never reaches sharp, so no XML
 * parser runs and no external reference is followed), its pixels (read from the header before
 * anything is decoded: libvips refuses the image from its header), and the render's time.
 */

let loaded: Promise<(input: Buffer | string, options: SharpOptions) => Sharp> | undefined;

/**
 * sharp (and libvips) on first use: a function that answers from the cache, or refuses a request
 * before any render, never loads it. Renders are one-off per source, so libvips' operation cache
 * would only hold memory between requests: it is off.
 */
function loadSharp() {
  loaded ??= import('sharp').then(({ default: sharp }) => {
    sharp.cache(false);
    return sharp;
  });
  return loaded;
}

export interface RenderLimits {
  maxPixels: number;
  timeoutSeconds: number;
}

/**
 * Renders one thumbnail: EXIF orientation applied, the first frame of an animation, metadata
 * stripped (sharp writes none unless asked), sRGB output. failOn 'error' refuses truncated and
 * corrupt pixel data but not the benign warnings many camera JPEGs carry (sharp's default,
 * 'warning', answers those with a failure: the intermittent 422s users of other services meet).
 */
export async function renderThumbnail(
  /** the image's bytes, or its file */
  source: Buffer | string,
  sourceFormat: SourceFormat,
  spec: ThumbnailSpec,
  format: OutputFormat,
  limits: RenderLimits,
): Promise<Buffer> {
  const unreadable = (cause: unknown) =>
    sourceFormat === 'heic'
      ? new AppError(
          'UNSUPPORTED_IMAGE',
          'HEIC images (HEVC) cannot be decoded by this deployment: its libvips has no HEVC decoder',
          undefined,
          { cause },
        )
      : new AppError('INVALID_IMAGE', 'The file is not a readable image', undefined, { cause });
  const sharp = await loadSharp();
  const input = (limitInputPixels: number | false) =>
    sharp(source, { failOn: 'error', limitInputPixels, autoOrient: true, animated: false, pages: 1 });
  const fit: keyof FitEnum = spec.fit;
  let pipeline = input(limits.maxPixels)
    .resize(spec.width, spec.height, { fit })
    .timeout({ seconds: limits.timeoutSeconds });
  switch (format) {
    case 'webp':
      pipeline = pipeline.webp({ quality: spec.quality });
      break;
    case 'avif':
      // AVIF encodes far slower than WebP at equal effort; 2 keeps a thumbnail in tens of milliseconds.
      pipeline = pipeline.avif({ quality: spec.quality, effort: 2 });
      break;
    case 'jpeg':
      pipeline = pipeline.flatten({ background: '#ffffff' }).jpeg({ quality: spec.quality });
      break;
    case 'png':
      // Lossless: quality has no meaning for PNG (nor GIF).
      pipeline = pipeline.png({ compressionLevel: 6 });
      break;
    case 'gif':
      pipeline = pipeline.gif();
      break;
  }
  try {
    return await pipeline.toBuffer();
  } catch (e) {
    // libvips checks the pixel count from the header, before it decodes anything.
    if (/pixel limit/i.test((e as Error).message)) throw await tooManyPixels(input(false), limits, e);
    if (/timeout/i.test((e as Error).message)) {
      throw new AppError(
        'IMAGE_RENDER_TIMEOUT',
        `The thumbnail took longer than ${limits.timeoutSeconds} s to render`,
        undefined,
        { cause: e },
      );
    }
    throw unreadable(e);
  }
}

/** The answer to an image over the pixel limit, with its dimensions (a header read, on this rare path). */
async function tooManyPixels(image: Sharp, limits: RenderLimits, cause: unknown): Promise<AppError> {
  const { width, height } = await image.metadata().catch(() => ({ width: undefined, height: undefined }));
  const size = width && height ? ` ${width}x${height}` : ' more';
  return new AppError(
    'IMAGE_TOO_MANY_PIXELS',
    `The image has${size} pixels; thumbnails are made of images up to ${limits.maxPixels} pixels`,
    undefined,
    { cause },
  );
}
