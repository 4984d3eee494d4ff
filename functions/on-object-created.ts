import type { S3Event } from 'aws-lambda';
import { isAppError } from '../shared/errors';
import { logger } from '../shared/logger';
import { getSession } from '../shared/metadata/records';
import { loadSecrets } from '../shared/secrets';
import { finalizeSession } from '../shared/service/direct-upload';

/**
 * S3 ObjectCreated: finalizes the direct upload the object belongs to, so a browser upload becomes
 * READY without the client calling complete. Keys look like `{tenant}/{id[0:2]}/{id}{ext}`
 * (shared/service/keys.ts objectKey). Objects of API uploads (their function commits them), dedupe
 * blobs and anything unknown are ignored. S3 delivers events at least once, sometimes twice or late:
 * only a PENDING direct session is finalized, so a repeat finds it COMPLETED and does nothing.
 */
const OBJECT_KEY = /^([^/]+)\/([0-9a-f]{2})\/([0-9a-f]{32})(\.[a-z0-9]{1,16})?$/;

export interface ObjectCreatedResult {
  finalized: number;
  ignored: number;
  rejected: number;
}

/** S3 event keys are URL-encoded, with `+` for spaces. */
const decodeKey = (key: string) => decodeURIComponent(key.replace(/\+/g, ' '));

export const handler = async (event: S3Event): Promise<ObjectCreatedResult> => {
  await loadSecrets();
  const result: ObjectCreatedResult = { finalized: 0, ignored: 0, rejected: 0 };
  let retry: unknown;
  for (const record of event.Records ?? []) {
    const key = decodeKey(record.s3.object.key);
    const match = OBJECT_KEY.exec(key);
    const [, tenant, shard, uploadId] = match ?? [];
    if (!tenant || !uploadId || shard !== uploadId.slice(0, 2)) {
      result.ignored++;
      continue;
    }
    try {
      const session = await getSession(tenant, uploadId);
      if (session?.kind !== 'direct' || session.status !== 'PENDING' || session.key !== key) {
        result.ignored++;
        continue;
      }
      await finalizeSession(session);
      result.finalized++;
    } catch (e) {
      // A refused upload (too large, md5 mismatch, path taken) is an answer: finalize has already
      // deleted the object and released the reservation. A concurrent update or an infrastructure
      // failure is retried: Lambda re-delivers the event, and the steps above are idempotent.
      if (isAppError(e) && e.code !== 'CONCURRENT_UPDATE') {
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
