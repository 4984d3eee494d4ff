import { createHmac, timingSafeEqual } from 'node:crypto';
import type { StorageBackend } from '../backends/contract';
import { getStorage } from '../backends/registry';
import { getConfig } from '../config';
import { AppError } from '../errors';
import { getFileRecord } from '../metadata/files';
import { type FileRecord, isExpired } from '../metadata/items';
import { normalizePath } from '../path';
import { removeFile } from './remove';

/**
 * Looks a file up for reading. Every read checks expiry: an expired file answers 404, and its
 * object, record and quota are cleaned up right then.
 */
export async function findFile(
  tenant: string,
  storage: string | undefined,
  rawPath: string | undefined,
): Promise<{ record: FileRecord; backend: StorageBackend }> {
  const backend = getStorage(storage);
  const path = normalizePath(rawPath);
  const record = await getFileRecord(tenant, backend.name, path);
  if (!record) throw new AppError('NOT_FOUND', 'File not found');
  if (isExpired(record)) {
    if (getConfig().cleanupOnRead) await removeFile(record, 'expired');
    throw new AppError('NOT_FOUND', 'File not found');
  }
  return { record, backend };
}

export type Disposition = 'inline' | 'attachment';

const MAX_LINK_SECONDS = 7 * 24 * 3600;

function linkSignature(
  tenant: string,
  storage: string,
  path: string,
  disposition: Disposition,
  expires: number,
) {
  return createHmac('sha256', getConfig().signingSecret)
    .update(`link\n${tenant}\n${storage}\n${path}\n${disposition}\n${expires}`)
    .digest('base64url');
}

export const encodePath = (path: string) => path.split('/').map(encodeURIComponent).join('/');

/** A signed, expiring preview/download link, bound to tenant + storage + path + disposition. */
export async function createLink(input: {
  tenant: string;
  storage?: string;
  path: string;
  disposition: Disposition;
  expiresIn?: number;
  baseUrl: string;
}): Promise<{ url: string; expiresAt: string }> {
  const expiresIn = input.expiresIn ?? getConfig().presignTtlSeconds;
  if (!Number.isInteger(expiresIn) || expiresIn <= 0 || expiresIn > MAX_LINK_SECONDS) {
    throw new AppError(
      'INVALID_EXPIRES',
      `expiresIn must be a whole number of seconds from 1 to ${MAX_LINK_SECONDS}`,
    );
  }
  const { record, backend } = await findFile(input.tenant, input.storage, input.path);
  const expires = Math.floor(Date.now() / 1000) + expiresIn;
  const query = new URLSearchParams({
    storage: backend.name,
    disposition: input.disposition,
    expires: String(expires),
    signature: linkSignature(record.tenant, backend.name, record.path, input.disposition, expires),
  });
  return {
    url: `${input.baseUrl}/v1/preview/${encodeURIComponent(record.tenant)}/${encodePath(record.path)}?${query}`,
    expiresAt: new Date(expires * 1000).toISOString(),
  };
}

/**
 * preview: a public file needs nothing; a private one needs a valid link. Without one, a private
 * file answers exactly like a missing one, so the endpoint does not reveal which private paths exist.
 */
export async function openPreview(input: {
  tenant: string;
  storage?: string;
  path: string;
  disposition?: string;
  expires?: string;
  signature?: string;
}): Promise<{ record: FileRecord; backend: StorageBackend; disposition: Disposition }> {
  const disposition: Disposition = input.disposition === 'attachment' ? 'attachment' : 'inline';
  const found = await findFile(input.tenant, input.storage, input.path);
  if (input.signature === undefined) {
    if (found.record.visibility !== 'public') throw new AppError('NOT_FOUND', 'File not found');
    return { ...found, disposition };
  }
  const expires = Number(input.expires);
  const expected = Buffer.from(
    linkSignature(found.record.tenant, found.backend.name, found.record.path, disposition, expires),
  );
  const given = Buffer.from(input.signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new AppError('INVALID_LINK', 'The link signature is not valid');
  }
  if (!Number.isInteger(expires) || expires * 1000 < Date.now()) {
    throw new AppError('INVALID_LINK', 'The link has expired');
  }
  return { ...found, disposition };
}
