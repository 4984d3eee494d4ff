import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLocalServer } from '../../infra/local/server';
import { LocalDiskBackend } from '../../shared/backends/local-disk';
import { getStorage, resetStorages } from '../../shared/backends/registry';
import { resetConfig } from '../../shared/config';
import { describeBackendContract } from './backend-contract';

/**
 * Local disk in a temp folder. Its upload URLs are signed by the service and accepted by the local
 * server's /_local/upload route, so the real server runs here too, over the instance the registry
 * builds from configuration.
 */
describeBackendContract('local-disk', async () => {
  const root = mkdtempSync(join(tmpdir(), 'contract-local-'));
  const server = createLocalServer({ port: 0, jwtSecret: randomBytes(32).toString('hex') });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  Object.assign(process.env, {
    SIGNING_SECRET: randomBytes(32).toString('hex'),
    PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    STORAGES: JSON.stringify({ 'storages.Default': { type: 'local-disk', root } }),
  });
  resetConfig();
  resetStorages();
  return {
    backend: getStorage('storages.Default'),
    checks: { uploadSignature: true, downloadSignature: false, expiry: true },
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      rmSync(root, { recursive: true, force: true });
    },
  };
});

describe('local-disk removeStaleTemp', () => {
  const root = mkdtempSync(join(tmpdir(), 'stale-temp-'));
  const backend = new LocalDiskBackend({ name: 'storages.Default', root, signingSecret: 's'.repeat(32) });
  const temp = join(root, '.tmp');
  const hourAgo = new Date(Date.now() - 3_600_000);
  const twoHoursAgo = new Date(Date.now() - 7_200_000);
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('is 0 when the temp folder does not exist yet', async () => {
    expect(await backend.removeStaleTemp(new Date())).toBe(0);
  });

  it('removes temp files last written before the time given, keeps fresh ones and stored objects', async () => {
    await backend.put('t/kept.txt', Buffer.from('stored'), { contentType: 'text/plain' });
    mkdirSync(temp, { recursive: true });
    writeFileSync(join(temp, 'stale-upload'), 'abandoned');
    utimesSync(join(temp, 'stale-upload'), twoHoursAgo, twoHoursAgo);
    writeFileSync(join(temp, 'live-upload'), 'still arriving');
    expect(await backend.removeStaleTemp(hourAgo)).toBe(1);
    expect(readdirSync(temp)).toEqual(['live-upload']);
    expect((await backend.head('t/kept.txt'))?.size).toBe(6);
    // Nothing newer than the cut-off: nothing more goes.
    expect(await backend.removeStaleTemp(hourAgo)).toBe(0);
    expect(readdirSync(temp)).toEqual(['live-upload']);
  });

  it('keeps a temp link to a stored object (a copy being renamed into place) until the object is gone', async () => {
    await backend.put('t/linked.txt', Buffer.from('linked'), { contentType: 'text/plain' });
    linkSync(join(root, 't', 'linked.txt'), join(temp, 'copy-in-flight'));
    utimesSync(join(temp, 'copy-in-flight'), twoHoursAgo, twoHoursAgo);
    expect(await backend.removeStaleTemp(hourAgo)).toBe(0);
    expect(readdirSync(temp).sort()).toEqual(['copy-in-flight', 'live-upload']);
    await backend.delete('t/linked.txt');
    expect(await backend.removeStaleTemp(hourAgo)).toBe(1);
    expect(readdirSync(temp)).toEqual(['live-upload']);
  });
});
