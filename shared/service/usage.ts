import { getConfig } from '../config';
import { AppError, serviceBusy } from '../errors';
import { filesOf } from '../metadata/files';
import { getQuotaState, getUsage, setLimit, type Usage, writeTotals } from '../metadata/quota';
import { sessionsOf } from '../metadata/tenants';
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

/** What a tenant's counters must be, counted from its items. */
interface Recount {
  usedBytes: number;
  fileCount: number;
  reservedBytes: number;
}

/**
 * Counts a tenant's READY files (in every storage it ever used, configured or not: its files
 * there still count) and the reservations of its PENDING sessions.
 */
async function recount(tenant: string, storages: string[]): Promise<Recount> {
  let usedBytes = 0;
  let fileCount = 0;
  for (const storage of storages) {
    // Expired records still count until they are removed: removal releases their bytes.
    for await (const record of filesOf(tenant, storage)) {
      usedBytes += record.size;
      fileCount += 1;
    }
  }
  let reservedBytes = 0;
  for await (const session of sessionsOf(tenant)) {
    if (session.status === 'PENDING') reservedBytes += session.reservedBytes;
  }
  return { usedBytes, fileCount, reservedBytes };
}

/**
 * Recomputes a tenant's counters from its items. The counter's revision is read before the count
 * and the totals are written only if it did not move (an upload or delete in between would make
 * the count stale); then it counts again. Safe to run while the tenant is busy.
 */
export async function recalculateUsage(tenant: string): Promise<Usage> {
  checkTenant(tenant);
  for (let attempt = 0; attempt < 5; attempt++) {
    const state = await getQuotaState(tenant);
    const storages = [...new Set([...Object.keys(getConfig().storages), ...state.storages])];
    const totals = await recount(tenant, storages);
    const written = await writeTotals(tenant, state.revs, totals);
    if (written) return written;
  }
  throw serviceBusy(new Error(`tenant ${tenant} changed during every recount`));
}
