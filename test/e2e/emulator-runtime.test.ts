import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { PresignedUpload } from '../../shared/backends/contract';
import { portOpen, startServer } from '../helpers/local-server';
import { sendUpload } from '../integration/backend-contract';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('STORAGE_EMULATOR=s3|azure npm start: a cloud backend as the default storage on one machine', () => {
  it.each([
    ['s3', 'storages.S3Emulator', 's3', 'POST'],
    ['azure', 'storages.AzureEmulator', 'azure-blob', 'PUT'],
  ])('STORAGE_EMULATOR=%s', async (kind, storage, type, method) => {
    const dataDir = mkdtempSync(join(tmpdir(), `storage-emulator-${kind}-`));
    dirs.push(dataDir);
    const server = await startServer(dataDir, { STORAGE_EMULATOR: kind, SWEEP_INTERVAL: '0' });
    let endpoint = '';
    try {
      const line = new RegExp(
        `Storage emulator \\(${kind}\\) on (http://127\\.0\\.0\\.1:\\d+)\\S*: default storage ${storage}`,
      );
      endpoint = line.exec(server.output())?.[1] ?? '';
      expect(endpoint, server.output()).not.toBe('');
      const auth = { authorization: `Bearer ${await server.token('emu', 'eve')}` };

      const storages = (await (await fetch(`${server.url}/v1/storages`, { headers: auth })).json()) as {
        storages: { name: string; type: string; default: boolean }[];
      };
      expect(storages.storages).toContainEqual(
        expect.objectContaining({ name: storage, type, default: true }),
      );
      expect(storages.storages).toContainEqual(
        expect.objectContaining({ name: 'storages.Default', default: false }),
      );

      // No ?storage=: the emulator is the default.
      const put = await fetch(`${server.url}/v1/objects/emu/a.txt`, {
        method: 'PUT',
        headers: { ...auth, 'content-type': 'text/plain' },
        body: 'in the emulator',
      });
      expect(put.status).toBe(201);
      const redirect = await fetch(`${server.url}/v1/objects/emu/a.txt`, {
        headers: auth,
        redirect: 'manual',
      });
      expect(redirect.status).toBe(302);
      const location = redirect.headers.get('location') as string;
      expect(location.startsWith(endpoint)).toBe(true);
      expect(await (await fetch(location)).text()).toBe('in the emulator');

      const sign = await fetch(`${server.url}/v1/uploads`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ path: 'emu/direct.txt', contentType: 'text/plain', size: 6 }),
      });
      const instructions = (await sign.json()) as PresignedUpload & { uploadId: string };
      expect(instructions.method).toBe(method);
      expect(instructions.url.startsWith(endpoint)).toBe(true);
      expect((await sendUpload(instructions, 'direct')).status).toBeLessThan(300);
      const done = await fetch(`${server.url}/v1/uploads/${instructions.uploadId}/complete`, {
        method: 'POST',
        headers: auth,
      });
      expect(done.status).toBe(200);
    } finally {
      expect(await server.stop()).toBe(0);
    }
    // Ctrl-C stopped the emulator too.
    expect(await portOpen(endpoint)).toBe(false);
  });
});
