import type { Readable } from 'node:stream';
import { create as contentDisposition } from 'content-disposition';
import { getConfig } from '../config';
import type { Thumbnail } from '../service/thumbnails';
import type { ApiRequest, HttpResult } from './api';
import { matchesEtag } from './object-response';

/** How long a browser or a CDN may reuse a thumbnail before revalidating it with its ETag. */
const MAX_AGE_SECONDS = 300;

/**
 * previewThumbnail's answer: 304 for the ETag a client holds, a redirect to a presigned GET of the
 * cached variant where the backend has one (Lambda's response cap and cost), else the bytes.
 */
export async function serveThumbnail(request: ApiRequest, thumbnail: Thumbnail): Promise<HttpResult> {
  const headers: Record<string, string> = {
    etag: thumbnail.etag,
    // A link's thumbnail is someone's private file: no shared cache keeps it.
    'cache-control': `${thumbnail.linked ? 'private' : 'public'}, max-age=${MAX_AGE_SECONDS}`,
    'x-content-type-options': 'nosniff',
    'content-security-policy': "sandbox; default-src 'none'",
    ...(thumbnail.negotiated ? { vary: 'Accept' } : {}),
  };
  // Before any read of a cached variant (a render has happened already: rare, a client holding the
  // ETag of a variant not kept).
  if (matchesEtag(request.header('if-none-match'), thumbnail.etag)) return { status: 304, headers };
  const fileName = `${thumbnail.record.fileName.replace(/\.[^.]*$/, '')}.${thumbnail.contentType.slice(6)}`;
  const disposition = contentDisposition(fileName, { type: 'inline' });
  const bytes = (body: Readable | Buffer, size: number): HttpResult => ({
    status: 200,
    headers: {
      ...headers,
      'content-type': thumbnail.contentType,
      'content-disposition': disposition,
      'content-length': String(size),
    },
    body,
  });
  if (thumbnail.from === 'cache') {
    const { backend, key } = thumbnail;
    if (backend.capabilities.presignDownload) {
      const url = await backend.presignDownload(key, {
        expiresIn: getConfig().presignTtlSeconds,
        disposition,
        contentType: thumbnail.contentType,
      });
      if (url) return { status: 302, headers: { location: url, 'cache-control': 'no-store' } };
    }
    const { body, info } = await backend.get(key);
    return bytes(body, info.size);
  }
  return bytes(thumbnail.bytes, thumbnail.bytes.length);
}
