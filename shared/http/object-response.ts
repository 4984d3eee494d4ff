import { create as contentDisposition } from 'content-disposition';
import type { ByteRange, StorageBackend } from '../backends/contract';
import { getConfig } from '../config';
import type { FileRecord } from '../metadata/items';
import { servedDisposition } from '../service/inline-types';
import type { Disposition } from '../service/read';
import type { ApiRequest, HttpResult } from './api';

/**
 * Parses a single `bytes=` range (RFC 9110). Returns null when the header is absent, malformed or
 * asks for several ranges (then the whole file is served, as the RFC allows), 'unsatisfiable' for
 * a range outside the file.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return null;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

/** The md5 of the bytes; for a file never read (a large multipart upload) its id, which no other content shares. */
const etagOf = (record: FileRecord) => `"${record.md5 ?? record.id}"`;

/** Whether an If-None-Match header names the ETag (weak or strong, or `*`). */
export function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '');
    return tag === '*' || tag === etag;
  });
}

/** Download or preview: 304, a redirect to a presigned GET where the backend has one, or the bytes with Range support. */
export async function serveObject(
  request: ApiRequest,
  record: FileRecord,
  backend: StorageBackend,
  requested: Disposition,
): Promise<HttpResult> {
  const etag = etagOf(record);
  // The same rule for the streamed answer and the presigned URL's response overrides.
  const disposition = servedDisposition(record.contentType, requested);
  const dispositionHeader = contentDisposition(record.fileName, { type: disposition });
  const common: Record<string, string> = {
    etag,
    'cache-control': 'private, no-cache',
    'x-content-type-options': 'nosniff',
  };
  // Inline user content must not run as a page of this API's origin.
  if (disposition === 'inline') common['content-security-policy'] = "sandbox; default-src 'none'";
  if (matchesEtag(request.header('if-none-match'), etag)) return { status: 304, headers: common };

  if (backend.capabilities.presignDownload) {
    const url = await backend.presignDownload(record.key, {
      expiresIn: getConfig().presignTtlSeconds,
      disposition: dispositionHeader,
      contentType: record.contentType,
    });
    if (url) return { status: 302, headers: { location: url, 'cache-control': 'no-store' } };
  }

  const range = parseRange(request.header('range'), record.size);
  if (range === 'unsatisfiable') {
    return {
      status: 416,
      headers: { 'content-range': `bytes */${record.size}` },
      json: { error: { code: 'RANGE_NOT_SATISFIABLE', message: `The file has ${record.size} bytes` } },
    };
  }
  const { body } = await backend.get(record.key, range ?? undefined);
  const headers: Record<string, string> = {
    ...common,
    'content-type': record.contentType,
    'content-disposition': dispositionHeader,
    'accept-ranges': 'bytes',
    'last-modified': new Date(record.uploadTime).toUTCString(),
    'content-length': String(range ? range.end - range.start + 1 : record.size),
  };
  if (range) headers['content-range'] = `bytes ${range.start}-${range.end}/${record.size}`;
  return { status: range ? 206 : 200, headers, body };
}
