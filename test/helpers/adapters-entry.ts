import type { LazyBackend } from '../../shared/backends/lazy';
import { getStorage } from '../../shared/backends/registry';

/**
 * Bundled by test/integration/bundled-adapters.test.ts with the deploy settings: loads every cloud
 * adapter the way a Lambda does on first use and presigns a download with each (no network).
 */
export async function loadEveryAdapter(names: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const backend = getStorage(name) as LazyBackend;
    await backend.backend();
    out[name] =
      (await backend.presignDownload('dir/a b.txt', {
        expiresIn: 60,
        disposition: 'attachment; filename="a b.txt"',
        contentType: 'text/plain',
      })) ?? '';
  }
  return out;
}
