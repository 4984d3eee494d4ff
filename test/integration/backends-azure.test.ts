import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { freePort } from '../../infra/local/dynamodb-local';
import { type AzuriteEmulator, startAzurite } from '../../infra/local/emulators';
import { AzureBlobBackend, type AzureBlobOptions } from '../../shared/backends/azure-blob';
import { describeBackendContract } from './backend-contract';

/** The Azure Blob adapter against Azurite, which checks SAS signatures and expiry. */
let azurite: AzuriteEmulator | undefined;
let location: string;
afterAll(async () => {
  await azurite?.stop();
  if (location) rmSync(location, { recursive: true, force: true });
});

describeBackendContract('azure-blob (Azurite)', async () => {
  location = mkdtempSync(join(tmpdir(), 'contract-azurite-'));
  const emulator = await startAzurite({ location, container: 'contract' });
  azurite = emulator;
  const azure = (extra: Partial<AzureBlobOptions> = {}) =>
    new AzureBlobBackend({
      name: 'storages.Azure',
      accessKeyId: emulator.accountName,
      accessKeySecret: emulator.accountKey,
      bucketName: emulator.container,
      endPoint: emulator.endpoint,
      maxTries: 1,
      ...extra,
    });
  const closed = `http://127.0.0.1:${await freePort()}/${emulator.accountName}`;
  const backend = azure();
  return {
    backend,
    storedContentType: async (key: string) =>
      (await backend.container.getBlobClient(key).getProperties()).contentType,
    checks: { uploadSignature: true, downloadSignature: true, expiry: true },
    uploadsListEmptyWhenGone: true,
    ignoresPartEtags: true,
    // Azurite answers a wrong account key with 403 AuthorizationFailure, which Azure itself uses for
    // missing permissions (AccessDenied); Azure answers a wrong key with AuthenticationFailed.
    wrongSecretKind: 'AccessDenied' as const,
    withWrongSecret: () => azure({ accessKeySecret: Buffer.from('not-the-account-key').toString('base64') }),
    unreachable: () => azure({ endPoint: closed }),
  };
});
