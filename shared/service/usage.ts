import { getConfig } from '../config';
import { AppError } from '../errors';
import { getUsage, setLimit, type Usage, writeTotals } from '../metadata/quota';
import {
  type FileRecord,
  fileKey,
  queryPartition,
  sessionKey,
  type UploadSession,
} from '../metadata/records';
import { TENANT_PATTERN } from './principal';

export { getUsage };

function checkTenant(tenant: string): void {
  if (!TENANT_PATTERN.test(tenant)) throw new AppError('INVALID_REQUEST', 'Not a valid tenant id');
}

export async function setQuota(tenant: string, limitBytes: unknown): Promise<Usage> {
  checkTenant(tenant);
  if (typeof limitBytes !== 'number' || !Number.isSafeInteger(limitBytes) || limitBytes < 0) {
    throw new AppError('INVALID_REQUEST', 'limitBytes must be a whole number of bytes, 0 or more');
  }
  return setLimit(tenant, limitBytes);
}

/**
 * Recomputes a tenant's counters from its records: used = sum of the READY file sizes,
 * reserved = sum of PENDING sessions. Meant for repair; uploads that commit while it runs can make
 * its answer stale, so run it when the tenant is quiet.
 */
export async function recalculateUsage(tenant: string): Promise<Usage> {
  checkTenant(tenant);
  let usedBytes = 0;
  let fileCount = 0;
  for (const storage of Object.keys(getConfig().storages)) {
    // Expired records still count until they are removed: removal releases their bytes.
    for await (const record of queryPartition<FileRecord>(fileKey(tenant, storage, '').pk)) {
      usedBytes += record.size;
      fileCount += 1;
    }
  }
  let reservedBytes = 0;
  for await (const session of queryPartition<UploadSession>(sessionKey(tenant, '').pk)) {
    if (session.status === 'PENDING') reservedBytes += session.reservedBytes;
  }
  return writeTotals(tenant, { usedBytes, fileCount, reservedBytes });
}
