import { getStorage } from '../backends/registry';
import { getConfig } from '../config';
import { AppError } from '../errors';
import { queryFiles } from '../metadata/files';
import { type FileRecord, isExpired } from '../metadata/items';
import { normalizePrefix } from '../path';
import { removeFile } from './remove';

export const MAX_LIST_LIMIT = 1000;

/**
 * Where a listing goes on: after a path (exclusive), or from a key (inclusive: the first key past a
 * folder that a folder listing skipped). Opaque to clients: base64url-encoded JSON.
 */
type Position = { after: string } | { from: string };

/** Where a page's query starts: at a key (`from`, inclusive) or past one (`after`), or at the prefix. */
const startOf = (position: Position | undefined): { from?: string; after?: string } =>
  position === undefined ? {} : 'from' in position ? { from: position.from } : { after: position.after };

const encodeCursor = (position: Position) => Buffer.from(JSON.stringify(position)).toString('base64url');

function decodeCursor(cursor: string, prefix: string): Position {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
      after?: unknown;
      from?: unknown;
    };
    if (typeof parsed.after === 'string' && parsed.after.startsWith(prefix)) return { after: parsed.after };
    if (
      typeof parsed.from === 'string' &&
      parsed.from.startsWith(prefix.slice(0, -1)) &&
      parsed.from > prefix
    ) {
      return { from: parsed.from };
    }
  } catch {
    // fall through
  }
  throw new AppError('INVALID_CURSOR', 'The cursor is not valid for this listing');
}

export function parseLimit(value: string | undefined): number {
  if (value === undefined || value === '') return 100;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_LIST_LIMIT) {
    throw new AppError('INVALID_REQUEST', `limit must be a whole number from 1 to ${MAX_LIST_LIMIT}`);
  }
  return Number(value);
}

/**
 * One page of a tenant's files in path order (stable: UTF-8 byte order of the path). Expired
 * files are left out of the page and cleaned up. With `delimiter` ('/'), a folder listing: the
 * files right under `prefix`, and its sub-folders as `prefixes` (each once, in the same order,
 * counted against `limit` like a file), as S3 lists common prefixes.
 */
export async function listFiles(input: {
  tenant: string;
  storage?: string;
  prefix?: string;
  delimiter?: string;
  cursor?: string;
  limit: number;
}): Promise<{ items: FileRecord[]; prefixes?: string[]; cursor: string | null }> {
  const backend = getStorage(input.storage);
  const prefix = normalizePrefix(input.prefix);
  const position = input.cursor ? decodeCursor(input.cursor, prefix) : undefined;
  if (input.delimiter !== undefined && input.delimiter !== '/') {
    throw new AppError('INVALID_REQUEST', 'delimiter: only "/" is supported');
  }
  const page =
    input.delimiter === undefined
      ? await filesPage(input.tenant, backend.name, prefix, position, input.limit)
      : await folderPage(input.tenant, backend.name, prefix, position, input.limit);
  const now = Date.now();
  const expired = page.records.filter((r) => isExpired(r, now));
  if (getConfig().cleanupOnRead) await Promise.all(expired.map((r) => removeFile(r, 'expired')));
  return {
    items: page.records.filter((r) => !isExpired(r, now)),
    ...(input.delimiter === undefined ? {} : { prefixes: page.prefixes }),
    cursor: page.next ? encodeCursor(page.next) : null,
  };
}

interface Page {
  records: FileRecord[];
  prefixes: string[];
  next?: Position;
}

async function filesPage(
  tenant: string,
  storage: string,
  prefix: string,
  position: Position | undefined,
  limit: number,
): Promise<Page> {
  const { from, after } = startOf(position);
  const { records, last } = await queryFiles(tenant, storage, { prefix, from, after, limit });
  // A query from a key runs on past the prefix: the listing ends where the prefix does.
  const inPrefix = records.filter((r) => r.path.startsWith(prefix));
  const more = last !== undefined && inPrefix.length === records.length;
  return { records: inPrefix, prefixes: [], ...(more ? { next: { after: last } } : {}) };
}

/**
 * The first key past every path of a sub-folder: its prefix with the closing "/" (0x2F) raised to
 * "0" (0x30). Paths under it all sort before, and the next file or folder of the level sorts at or
 * after it, so the listing resumes there in one query however large the sub-folder.
 */
const pastFolder = (folder: string) => `${folder.slice(0, -1)}0`;

async function folderPage(
  tenant: string,
  storage: string,
  prefix: string,
  position: Position | undefined,
  limit: number,
): Promise<Page> {
  const page: Page = { records: [], prefixes: [] };
  let { from, after } = startOf(position);
  for (;;) {
    const wanted = limit - page.records.length - page.prefixes.length;
    const { records, last } = await queryFiles(tenant, storage, { prefix, from, after, limit: wanted });
    let skipTo: string | undefined;
    for (const record of records) {
      // Past the prefix (a query from a key runs on through the partition): the listing is done.
      if (!record.path.startsWith(prefix)) {
        delete page.next;
        return page;
      }
      const slash = record.path.indexOf('/', prefix.length);
      if (slash < 0) {
        page.records.push(record);
        page.next = { after: record.path };
      } else {
        const folder = record.path.slice(0, slash + 1);
        page.prefixes.push(folder);
        page.next = { from: pastFolder(folder) };
        // The rest of this page may still be in that folder: go on from past it.
        skipTo = pastFolder(folder);
      }
      if (page.records.length + page.prefixes.length >= limit) return page;
      if (skipTo) break;
    }
    if (skipTo) {
      from = skipTo;
      after = undefined;
      continue;
    }
    if (!last) {
      delete page.next;
      return page;
    }
    after = last;
  }
}
