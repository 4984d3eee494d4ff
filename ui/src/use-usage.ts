import { useEffect, useState } from 'preact/hooks';
import type { StorageClient, Usage } from './sdk';

/** The tenant's counters, read again whenever `version` changes. */
export function useUsage(client: StorageClient, version: number, report: (e: unknown) => void) {
  const [usage, setUsage] = useState<Usage | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    client.usage(controller.signal).then(setUsage, (e: unknown) => {
      if (!controller.signal.aborted) report(e);
    });
    return () => controller.abort();
  }, [client, version]);
  return usage;
}
