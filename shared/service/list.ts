import { getStorage } from '../backends/registry';
import { getConfig } from '../config';
import { AppError } from '../errors';
import { queryFiles } from '../metadata/files';
import { type FileRecord, isExpired } from '../metadata/items';
import { normalizePrefix } from '../path';
import { removeFile } from './remove';

export const MAX_LIST_LIMIT = 1000;

/** The cursor is opaque to clients: the last path of the page, base64url-encoded JSON. */
const encodeCursor = (path: string) => Buffer.from(JSON.stringify({ after: path })).toString('base64url');

function decodeCursor(cursor: string, prefix: string): string {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown };
    if (typeof parsed.after === 'string' && parsed.after.startsWith(prefix)) return parsed.after;
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
 * files are left out of the page and cleaned up.
 */
export async function listFiles(input: {
  tenant: string;
  storage?: string;
  prefix?: string;
  cursor?: string;
  limit: number;
}): Promise<{ items: FileRecord[]; cursor: string | null }> {
  const backend = getStorage(input.storage);
  const prefix = normalizePrefix(input.prefix);
  const after = input.cursor ? decodeCursor(input.cursor, prefix) : undefined;
  const { records, last } = await queryFiles(input.tenant, backend.name, {
    prefix,
    after,
    limit: input.limit,
  });
  const now = Date.now();
  const expired = records.filter((r) => isExpired(r, now));
  if (getConfig().cleanupOnRead) await Promise.all(expired.map((r) => removeFile(r, 'expired')));
  return { items: records.filter((r) => !isExpired(r, now)), cursor: last ? encodeCursor(last) : null };
}
