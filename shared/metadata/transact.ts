import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { serviceBusy } from '../errors';
import { db } from './client';

export type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** A condition of one of the items failed; `failed[i]` is true for the items whose condition failed. */
export class ConditionFailed extends Error {
  override name = 'ConditionFailed';
  constructor(readonly failed: boolean[]) {
    super('transaction condition failed');
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What transactions met in this process (benchmarks read it): conflicts retried, and those past every retry. */
export const transactStats = { transactions: 0, conflicts: 0, gaveUp: 0 };

/**
 * TransactWriteItems with retries on TransactionConflict (two transactions touching the same item
 * at once): DynamoDB cancels one of them, and retrying with jittered backoff is the documented
 * remedy. A failed condition is not retried: it is an answer, returned as ConditionFailed.
 * Conflicts that outlast every retry are SERVICE_BUSY (503, retry later), never a 500.
 * The SDK fills in a ClientRequestToken, so its own retries of one call are idempotent.
 */
export async function transactWrite(items: TransactItem[], attempts = 12): Promise<void> {
  transactStats.transactions++;
  for (let attempt = 1; ; attempt++) {
    try {
      await db().send(new TransactWriteCommand({ TransactItems: items }));
      return;
    } catch (e) {
      if (!(e instanceof TransactionCanceledException)) throw e;
      const reasons = e.CancellationReasons ?? [];
      const failed = reasons.map((r) => r.Code === 'ConditionalCheckFailed');
      if (failed.some(Boolean)) throw new ConditionFailed(failed);
      const conflict = reasons.some((r) => r.Code === 'TransactionConflict');
      if (!conflict) throw e;
      transactStats.conflicts++;
      if (attempt >= attempts) {
        transactStats.gaveUp++;
        throw serviceBusy(e);
      }
      await sleep(Math.random() * Math.min(1000, 10 * 2 ** attempt));
    }
  }
}

export const isConditionFailed = (e: unknown): e is ConditionFailed => e instanceof ConditionFailed;

/** True when a single conditional write (Put, Update, Delete) found its condition false. */
export const isConditionalCheckFailed = (e: unknown) =>
  (e as Error | null)?.name === 'ConditionalCheckFailedException';
