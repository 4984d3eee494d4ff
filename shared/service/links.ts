import { createHmac, timingSafeEqual } from 'node:crypto';
import type { StorageBackend } from '../backends/contract';
import { getConfig, type SigningKey } from '../config';
import { AppError, isAppError } from '../errors';
import { canonicalSpec, specQuery, type ThumbnailSpec } from '../images/thumbnail-spec';
import { bumpLinkGeneration } from '../metadata/files';
import type { FileRecord } from '../metadata/items';
import { refreshSigningKeys } from '../secrets';
import { type Disposition, encodePath, findFile } from './read';

const MAX_LINK_SECONDS = 7 * 24 * 3600;

/**
 * What a link's signature covers: the key, the file (its id, and the generation its owner bumps to
 * revoke), where it lives, what it opens (a disposition for a preview, the thumbnail's parameters
 * for a thumbnail) and the expiry. A replaced or deleted file has another id or none, so its links
 * die with it.
 */
function signature(key: SigningKey, record: FileRecord, opens: string, expires: number): string {
  return createHmac('sha256', key.secret)
    .update(
      [
        'link-v2',
        key.id,
        record.tenant,
        record.storage,
        record.path,
        record.id,
        record.linkGeneration ?? 0,
        opens,
        expires,
      ].join('\n'),
    )
    .digest('base64url');
}

/** What a thumbnail link opens, as its signature binds it: exactly these parameters. */
export const thumbnailOpens = (spec: ThumbnailSpec) => `thumbnail ${canonicalSpec(spec)}`;

/**
 * A signed, expiring link to one file (not to its path): a preview (inline or as an attachment),
 * or with `thumbnail` a thumbnail with exactly those parameters.
 */
export async function createLink(input: {
  tenant: string;
  storage?: string;
  path: string;
  disposition: Disposition;
  thumbnail?: ThumbnailSpec;
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
  const key = getConfig().signingKeys[0] as SigningKey;
  const expires = Math.floor(Date.now() / 1000) + expiresIn;
  const opens = input.thumbnail ? thumbnailOpens(input.thumbnail) : input.disposition;
  const query = new URLSearchParams({
    storage: backend.name,
    ...(input.thumbnail ? specQuery(input.thumbnail) : { disposition: input.disposition }),
    expires: String(expires),
    kid: key.id,
    signature: signature(key, record, opens, expires),
  });
  const route = input.thumbnail ? 'thumbnails' : 'preview';
  return {
    url: `${input.baseUrl}/v1/${route}/${encodeURIComponent(record.tenant)}/${encodePath(record.path)}?${query}`,
    expiresAt: new Date(expires * 1000).toISOString(),
  };
}

/** Kills every link made so far to the file at this path; links made afterwards work. */
export async function revokeLinks(tenant: string, storage: string | undefined, path: string): Promise<void> {
  const { record } = await findFile(tenant, storage, path);
  // A replace racing this kills the old links anyway; the new file's links were never revoked.
  await bumpLinkGeneration(record);
}

const notFound = () => new AppError('NOT_FOUND', 'File not found');

/** The key a link names: after a rotation elsewhere, this cold start may have to read the keys again. */
async function keyFor(kid: string | undefined): Promise<SigningKey | undefined> {
  const find = () => getConfig().signingKeys.find((k) => k.id === kid);
  if (!kid) return undefined;
  return find() ?? ((await refreshSigningKeys()) ? find() : undefined);
}

/** What opens a shared file: a link's parameters, or none for a public file. */
export interface SharedAccess {
  tenant: string;
  storage?: string;
  path: string;
  expires?: string;
  kid?: string;
  signature?: string;
}

/**
 * Preview and thumbnail: a public file needs nothing; a private one needs a valid link for what is
 * opened (`opens`). Without one, a private file answers exactly like a missing one. With one, what
 * can be checked without the file is checked first (shape, expiry, key), and a wrong signature
 * answers like a missing file, so a link never tells which private paths exist.
 */
export async function openShared(
  input: SharedAccess,
  opens: string,
): Promise<{ record: FileRecord; backend: StorageBackend; linked: boolean }> {
  if (input.signature === undefined) {
    const found = await findFile(input.tenant, input.storage, input.path);
    if (found.record.visibility !== 'public') throw notFound();
    return { ...found, linked: false };
  }
  const expires = Number(input.expires);
  if (!input.expires || !Number.isSafeInteger(expires))
    throw new AppError('INVALID_LINK', 'The link is malformed');
  if (expires * 1000 < Date.now()) throw new AppError('INVALID_LINK', 'The link has expired');
  const key = await keyFor(input.kid);
  if (!key) {
    throw new AppError('INVALID_LINK', 'The link was signed with a key this service no longer accepts');
  }
  let found: Awaited<ReturnType<typeof findFile>>;
  try {
    found = await findFile(input.tenant, input.storage, input.path);
  } catch (e) {
    // A path that is not even valid is as missing as any other.
    if (isAppError(e) && e.status === 400) throw notFound();
    throw e;
  }
  const expected = Buffer.from(signature(key, found.record, opens, expires));
  const given = Buffer.from(input.signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw notFound();
  return { ...found, linked: true };
}

/** preview: inline unless the link says attachment. */
export async function openPreview(
  input: SharedAccess & { disposition?: string },
): Promise<{ record: FileRecord; backend: StorageBackend; disposition: Disposition }> {
  const disposition: Disposition = input.disposition === 'attachment' ? 'attachment' : 'inline';
  const { record, backend } = await openShared(input, disposition);
  return { record, backend, disposition };
}
