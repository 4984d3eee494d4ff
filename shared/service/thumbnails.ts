import { createHash } from 'node:crypto';
import type { StorageBackend } from '../backends/contract';
import { getStorage } from '../backends/registry';
import { getConfig } from '../config';
import { AppError, StorageError } from '../errors';
import { renderThumbnail } from '../images/render';
import {
  DEFAULT_SPEC,
  mimeOf,
  type OutputFormat,
  outputFormat,
  type SourceFormat,
  sniffImage,
  type ThumbnailSpec,
  variantName,
} from '../images/thumbnail-spec';
import { logger } from '../logger';
import { getFileRecord, markThumbnailReady, reserveThumbnail } from '../metadata/files';
import { type FileRecord, isExpired, thumbnailKey } from '../metadata/items';
import { runInBackground } from './background';
import { openShared, type SharedAccess, thumbnailOpens } from './links';

/** What answers a thumbnail request. */
export type Thumbnail = {
  record: FileRecord;
  /** a link opened it (private caching), or the file is public */
  linked: boolean;
  /** the format was chosen by the Accept header: caches must vary on it */
  negotiated: boolean;
  etag: string;
  contentType: string;
} & ({ from: 'cache'; backend: StorageBackend; key: string } | { from: 'render'; bytes: Buffer });

/** The ETag of a variant of a file: a new file (new id) or other parameters give another one. */
const etagOf = (record: FileRecord, variant: string) =>
  `"t-${createHash('sha256').update(`${record.id}\n${variant}`).digest('base64url').slice(0, 22)}"`;

/**
 * previewThumbnail: the access rules of preview (a public file, or a link signed for exactly these
 * parameters), then the cached variant when there is one, else a render from the source, which is
 * kept for next time unless the file already has its share of variants.
 */
export async function openThumbnail(input: {
  access: SharedAccess;
  spec: ThumbnailSpec;
  accept?: string;
}): Promise<Thumbnail> {
  const { record, backend, linked } = await openShared(input.access, thumbnailOpens(input.spec));
  const negotiated = input.spec.format === 'auto';
  const answer = { record, linked, negotiated };

  // Once a thumbnail was made of the file, its format is known: the variant is too, before any read.
  const known = record.imageFormat as SourceFormat | undefined;
  if (known) {
    const format = outputFormat(input.spec.format, input.accept, known);
    const variant = variantName(input.spec, format);
    const etag = etagOf(record, variant);
    if (record.thumbnailsReady?.includes(variant)) {
      const key = thumbnailKey(record, variant);
      return { ...answer, etag, contentType: mimeOf(format), from: 'cache', backend, key };
    }
  }

  const source = await loadSource(record, backend);
  const { bytes, format, variant } = await renderVariant(
    record,
    backend,
    source,
    input.spec,
    input.accept,
    true,
  );
  return { ...answer, etag: etagOf(record, variant), contentType: mimeOf(format), from: 'render', bytes };
}

/**
 * The source of a file's thumbnails, recognized by its magic bytes: its file where the storage is
 * this machine's disk (libvips opens it), else its bytes, read whole (sharp decodes from memory;
 * the record's size, checked first, bounds what is held).
 */
interface Source {
  input: Buffer | string;
  format: SourceFormat;
}

const HEAD_BYTES = 4100;

async function loadSource(record: FileRecord, backend: StorageBackend): Promise<Source> {
  const { maxSourceBytes } = getConfig().thumbnails;
  if (record.size > maxSourceBytes) {
    throw new AppError(
      'IMAGE_TOO_LARGE',
      `Thumbnails are made of files up to ${maxSourceBytes} bytes; this one has ${record.size}`,
    );
  }
  const path = backend.localPath?.(record.key);
  const range =
    path && record.size > 0 ? { start: 0, end: Math.min(record.size, HEAD_BYTES) - 1 } : undefined;
  const { body } = await backend.get(record.key, range);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  const bytes = Buffer.concat(chunks);
  const format = await sniffImage(bytes.subarray(0, HEAD_BYTES));
  if (!format) throw new AppError('UNSUPPORTED_IMAGE', 'The file is not an image a thumbnail can be made of');
  return { input: path ?? bytes, format };
}

/**
 * Renders one variant and keeps it where the file may have one more. A request's render is
 * answered as soon as it exists where the process outlives the answer (the local server): the
 * variant is reserved, written and marked ready after it. In Lambda, and for the eager sizes, the
 * keeping is awaited, with the reservation made while the render runs.
 */
async function renderVariant(
  record: FileRecord,
  backend: StorageBackend,
  source: Source,
  spec: ThumbnailSpec,
  accept: string | undefined,
  answering: boolean,
): Promise<{ bytes: Buffer; format: OutputFormat; variant: string }> {
  const config = getConfig().thumbnails;
  const format = outputFormat(spec.format, accept, source.format);
  const variant = variantName(spec, format);
  // The reservation is what makes the object the file's (see keep). A render that fails leaves
  // its reservation: a slot of the cap with no object, which costs the file's removal nothing.
  const reserve = () => reserveThumbnail(record, variant, source.format, config.maxVariants);
  const render = () => renderThumbnail(source.input, source.format, spec, format, config);
  if (answering && config.background) {
    const bytes = await render();
    runInBackground('keep a thumbnail', async () => {
      if ((await reserve()) === 'reserved') await keep(record, backend, variant, bytes, format);
    });
    return { bytes, format, variant };
  }
  const [reservation, bytes] = await Promise.all([reserve(), render()]);
  if (reservation === 'reserved') await keep(record, backend, variant, bytes, format);
  return { bytes, format, variant };
}

/**
 * Writes a reserved variant and marks it ready. A failure here never fails the request: the
 * thumbnail is answered anyway, and a variant left unmarked is rendered again next time (its
 * reservation still makes whoever removes the file delete it).
 */
async function keep(
  record: FileRecord,
  backend: StorageBackend,
  variant: string,
  bytes: Buffer,
  format: OutputFormat,
): Promise<void> {
  try {
    await backend.put(thumbnailKey(record, variant), bytes, {
      contentType: mimeOf(format),
      size: bytes.length,
    });
    await markThumbnailReady(record, variant);
  } catch (e) {
    logger.warn('a thumbnail was rendered but not kept', { id: record.id, variant, error: e as Error });
  }
}

/**
 * The configured sizes of a file just uploaded, rendered ahead of the first request (as WebP,
 * which browsers accept, with the default fit and quality). Never throws: a file that is no image
 * or cannot be rendered simply has no eager thumbnails, and its upload is long done.
 */
export async function renderEagerThumbnails(record: FileRecord): Promise<number> {
  const sizes = getConfig().thumbnails.eagerSizes;
  if (sizes.length === 0 || !record.contentType.startsWith('image/') || isExpired(record)) return 0;
  const backend = getStorage(record.storage);
  let rendered = 0;
  try {
    const source = await loadSource(record, backend);
    for (const size of sizes) {
      await renderVariant(
        record,
        backend,
        source,
        { ...DEFAULT_SPEC, ...size, format: 'webp' },
        undefined,
        false,
      );
      rendered++;
    }
  } catch (e) {
    // Not an image after all, too large, or gone again: expected, and the same for every size.
    const expected =
      (e instanceof AppError && e.status < 500) || (e instanceof StorageError && e.kind === 'NotFound');
    if (!expected) logger.warn('eager thumbnails were not rendered', { id: record.id, error: e as Error });
  }
  return rendered;
}

/**
 * The post-upload processor (a FileUploaded event in AWS): the file the event names, if it is
 * still that file (not replaced or removed since), gets its eager thumbnails.
 */
export async function renderThumbnailsOfUpload(file: {
  id: string;
  tenant: string;
  storage: string;
  path: string;
}): Promise<number> {
  const record = await getFileRecord(file.tenant, file.storage, file.path);
  return record?.id === file.id ? renderEagerThumbnails(record) : 0;
}
