import type { Attachment, Link, StorageClient } from './sdk';

/** The types the service makes thumbnails of (README: thumbnails); SVG never. */
const THUMBNAIL_TYPES = new Set([
  'image/jpeg',
  'image/png',
  'image/webp',
  'image/gif',
  'image/avif',
  'image/tiff',
]);

export const hasThumbnail = (file: Attachment) => THUMBNAIL_TYPES.has(file.type.split(';')[0] ?? '');

export interface ThumbnailSize {
  width: number;
  height: number;
  fit: 'cover' | 'inside';
}

/** Links live an hour; one with less than this left is made again rather than shown. */
const LINK_SECONDS = 3600;
const MARGIN_MS = 60_000;
/** Link requests at once: a grid of hundreds of images must not take every connection. */
const CONCURRENCY = 4;

/**
 * Signed thumbnail links (previewThumbnail), one per file id and size, reused until they near
 * their expiry. Keyed by the file's id, not its path: a replaced file has a new id, and a link to
 * the old one would answer 404.
 */
export class ThumbnailLinks {
  private readonly links = new Map<string, { link: Promise<Link>; expiresAt: number }>();
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly client: StorageClient) {}

  async url(file: Attachment, size: ThumbnailSize): Promise<string> {
    const key = `${file.id}/${size.width}x${size.height}/${size.fit}`;
    const cached = this.links.get(key);
    if (cached && cached.expiresAt - Date.now() > MARGIN_MS) return (await cached.link).url;
    const link = this.limited(() =>
      this.client.previewThumbnail(file.fullName, size, { expiresIn: LINK_SECONDS }),
    );
    this.links.set(key, { link, expiresAt: Date.now() + LINK_SECONDS * 1000 });
    // A failed request is not kept: the next render asks again.
    link.catch(() => this.links.delete(key));
    return (await link).url;
  }

  private async limited<T>(task: () => Promise<T>): Promise<T> {
    while (this.active >= CONCURRENCY) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}
