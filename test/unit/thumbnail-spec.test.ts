import { describe, expect, it } from 'vitest';
import {
  canonicalSpec,
  outputFormat,
  parseThumbnailSpec,
  sniffImage,
  specQuery,
  variantName,
} from '../../shared/images/thumbnail-spec';

describe('thumbnail parameters', () => {
  it('defaults to 120 x 120, cover, auto, quality 80; equal requests have one variant name and one canonical form', () => {
    const defaults = parseThumbnailSpec({});
    expect(defaults).toEqual({ width: 120, height: 120, fit: 'cover', format: 'auto', quality: 80 });
    const spelled = parseThumbnailSpec({
      width: '120',
      height: '120',
      fit: 'cover',
      format: 'auto',
      quality: '80',
    });
    expect(canonicalSpec(spelled)).toBe(canonicalSpec(defaults));
    expect(variantName(spelled, 'webp')).toBe('120x120-cover-q80.webp');
    // A link carries exactly the parameters it signs, and they parse back to the same spec.
    expect(parseThumbnailSpec(specQuery(parseThumbnailSpec({ width: '7', fit: 'fill' })))).toEqual({
      ...defaults,
      width: 7,
      fit: 'fill',
    });
  });

  it('negotiates: WebP when Accept allows it (not at q=0), else JPEG for a JPEG and PNG otherwise; explicit and origin formats', () => {
    expect(outputFormat('auto', 'image/avif,image/webp,*/*;q=0.8', 'jpeg')).toBe('webp');
    expect(outputFormat('auto', 'IMAGE/WEBP', 'png')).toBe('webp');
    expect(outputFormat('auto', 'image/webp;q=0, */*', 'jpeg')).toBe('jpeg');
    expect(outputFormat('auto', '*/*', 'gif')).toBe('png');
    expect(outputFormat('auto', undefined, 'avif')).toBe('png');
    expect(outputFormat('avif', '*/*', 'jpeg')).toBe('avif');
    expect(outputFormat('origin', 'image/webp', 'gif')).toBe('gif');
    expect(outputFormat('origin', 'image/webp', 'tiff')).toBe('png');
  });

  it('recognizes the rendered formats by their magic bytes, and nothing else', async () => {
    const ftyp = (brand: string) =>
      Buffer.concat([
        Buffer.from([0, 0, 0, 0x18]),
        Buffer.from(`ftyp${brand}`),
        Buffer.alloc(4),
        Buffer.from(`mif1${brand}`),
      ]);
    expect(await sniffImage(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46, 0]))).toBe(
      'jpeg',
    );
    expect(await sniffImage(Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1'))).toBe('gif');
    expect(await sniffImage(ftyp('avif'))).toBe('avif');
    expect(await sniffImage(ftyp('heic'))).toBe('heic');
    expect(await sniffImage(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"></svg>'))).toBeUndefined();
    expect(await sniffImage(Buffer.from('%PDF-1.4\n'))).toBeUndefined();
    expect(await sniffImage(Buffer.alloc(0))).toBeUndefined();
  });
});
