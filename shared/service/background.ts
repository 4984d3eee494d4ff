import { logger } from '../logger';

/**
 * Work a long-lived process (the local server) finishes after it has answered: what a request
 * started but its client need not wait for. Lambda has no "after": a function frozen once it
 * returns would never finish it, so there the same work is awaited before the answer (the caller
 * decides by configuration). stop() of the local runtime waits for what is still running.
 */
const running = new Set<Promise<void>>();

export function runInBackground(what: string, task: () => Promise<unknown>): void {
  // Started on the next turn of the event loop: the answer the caller is about to return is written
  // to its socket first, without this work's first steps (a DynamoDB request's marshalling and
  // signing, say) ahead of it.
  const started = new Promise<void>((resolve) => setImmediate(resolve));
  const done: Promise<void> = started
    .then(task)
    .then(
      () => undefined,
      (e: unknown) => logger.warn(`background work failed: ${what}`, { error: e as Error }),
    )
    .finally(() => running.delete(done));
  running.add(done);
}

/** Resolves once the work running now (and any it started) has ended. */
export async function backgroundSettled(): Promise<void> {
  while (running.size > 0) await Promise.allSettled([...running]);
}
