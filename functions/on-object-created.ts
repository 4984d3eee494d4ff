import type { S3Event } from 'aws-lambda';
import { getStorage } from '../shared/backends/registry';
import { isAppError } from '../shared/errors';
import { logger } from '../shared/logger';
import { getSession } from '../shared/metadata/sessions';
import { loadSecrets } from '../shared/secrets';
import { finalizeSession } from '../shared/service/direct-upload';
import { parseAssembledKey, parseStagingKey } from '../shared/service/keys';

/**
 * S3 ObjectCreated on the staging prefix: finalizes the direct upload the object belongs to, so a
 * browser upload becomes READY without the client calling complete. Staging keys look like
 * `_staging/{tenant}/{uploadId}{ext}` (shared/service/keys.ts stagingKey). S3 delivers events at
 * least once, sometimes twice or late: only a PENDING direct session is finalized, and a staging
 * object whose session is not PENDING any more (written again after complete, or after the upload
 * was reaped) is garbage and deleted at once. A multipart upload joined in place
 * (`_assembled/...`, written by complete) is finalized the same way, but never deleted here: once
 * its session is over it is a file, or garbage that ending the session already listed. Other
 * keys are ignored.
 */

export interface ObjectCreatedResult {
  finalized: number;
  ignored: number;
  rejected: number;
  /** staging objects that no PENDING upload waits for, deleted */
  discarded: number;
}

/** S3 event keys are URL-encoded, with `+` for spaces. */
const decodeKey = (key: string) => decodeURIComponent(key.replace(/\+/g, ' '));

export const handler = async (event: S3Event): Promise<ObjectCreatedResult> => {
  await loadSecrets();
  const result: ObjectCreatedResult = { finalized: 0, ignored: 0, rejected: 0, discarded: 0 };
  let retry: unknown;
  for (const record of event.Records ?? []) {
    const key = decodeKey(record.s3.object.key);
    const staged = parseStagingKey(key);
    const { tenant, uploadId } = staged ?? parseAssembledKey(key) ?? {};
    if (!tenant || !uploadId) {
      result.ignored++;
      continue;
    }
    try {
      const session = await getSession(tenant, uploadId);
      if (session?.kind === 'direct' && session.status === 'PENDING' && session.key === key) {
        // Another finalize of the same upload running: this event is delivered again later.
        await finalizeSession(session, { waitMs: 0 });
        result.finalized++;
      } else if (staged && session?.status !== 'PENDING') {
        await getStorage(session?.storage).delete(key);
        result.discarded++;
      } else {
        result.ignored++;
      }
    } catch (e) {
      // A refused upload (too large, md5 mismatch, path taken) is an answer: finalize has already
      // deleted the object and released the reservation. Another finalize in progress, or an
      // infrastructure failure, is retried: Lambda delivers the event again, and finalize is idempotent.
      if (isAppError(e) && e.status < 500 && e.code !== 'UPLOAD_IN_PROGRESS') {
        logger.info('direct upload not finalized', { key, code: e.code });
        result.rejected++;
      } else {
        logger.error('finalizing a direct upload failed; the event will be retried', {
          key,
          error: e as Error,
        });
        retry ??= e;
      }
    }
  }
  if (retry) throw retry;
  return result;
};
