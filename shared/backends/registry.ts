import { resolve } from 'node:path';
import { ConfigError, getConfig, type StorageInstanceConfig } from '../config';
import { AppError } from '../errors';
import { faultsEnabled, withFaults } from '../faults';
import type { Capabilities, StorageBackend } from './contract';
import { resolveCredentials } from './credentials';
import { LazyBackend } from './lazy';
import { LocalDiskBackend } from './local-disk';

const instances = new Map<string, StorageBackend>();

/** The named storage instance (`storages.MyOss`), or the default one; built once per cold start. */
export function getStorage(name?: string | null): StorageBackend {
  const config = getConfig();
  const instanceName = name || config.defaultStorage;
  const existing = instances.get(instanceName);
  if (existing) return existing;
  const settings = config.storages[instanceName];
  if (!settings) throw new AppError('UNKNOWN_STORAGE', `Unknown storage instance: ${instanceName}`);
  const built = build(instanceName, settings);
  // Fault-injection tests get every call behind a failpoint (shared/faults.ts).
  const backend = faultsEnabled() ? withFaults(built) : built;
  instances.set(instanceName, backend);
  return backend;
}

const ALL: Capabilities = {
  presignUpload: true,
  presignDownload: true,
  range: true,
  multipart: true,
  sealedParts: true,
};

/**
 * What the cloud adapters can do, known without loading them (they are loaded on first use, see
 * LazyBackend); a unit test checks that each adapter declares the same.
 */
export const cloudCapabilities: Record<Exclude<StorageInstanceConfig['type'], 'local-disk'>, Capabilities> = {
  s3: ALL,
  minio: ALL,
  'azure-blob': { ...ALL, sealedParts: false },
  'aliyun-oss': ALL,
};

function build(name: string, settings: StorageInstanceConfig): StorageBackend {
  const lazy = (load: () => Promise<StorageBackend>) =>
    new LazyBackend(
      settings.type,
      name,
      cloudCapabilities[settings.type as keyof typeof cloudCapabilities],
      async () => {
        try {
          return await load();
        } catch (e) {
          if (e instanceof ConfigError) throw e;
          // An SDK that refuses its settings: as clear as a configuration error, without echoing secrets.
          throw new ConfigError(
            `Invalid configuration: ${name} (${settings.type}): ${e instanceof Error ? e.message : String(e)}`,
          );
        }
      },
    );
  switch (settings.type) {
    case 'local-disk': {
      const config = getConfig();
      return new LocalDiskBackend({
        name,
        root: resolve(settings.root),
        signingSecret: config.signingSecret,
        publicBaseUrl: config.publicBaseUrl,
      });
    }
    case 's3':
      return lazy(async () => {
        const credentials = await resolveCredentials(name, settings);
        return new (await import('./s3')).S3Backend({ name, ...settings, ...credentials });
      });
    case 'minio':
      return lazy(async () => {
        const credentials = await requireCredentials(name, settings);
        return new (await import('./minio')).MinioBackend({ name, ...settings, ...credentials });
      });
    case 'azure-blob':
      return lazy(async () => {
        const credentials = await requireCredentials(name, settings);
        return new (await import('./azure-blob')).AzureBlobBackend({ name, ...settings, ...credentials });
      });
    case 'aliyun-oss':
      return lazy(async () => {
        const credentials = await requireCredentials(name, settings);
        return new (await import('./aliyun-oss')).AliyunOssBackend({ name, ...settings, ...credentials });
      });
  }
}

async function requireCredentials(name: string, settings: Parameters<typeof resolveCredentials>[1]) {
  const credentials = await resolveCredentials(name, settings);
  // The schema already insists on credentials or a secret for these types.
  if (!credentials) throw new ConfigError(`Invalid configuration: ${name}.accessKeyId: is required`);
  return credentials;
}

export function listStorages() {
  const config = getConfig();
  return Object.entries(config.storages).map(([name, s]) => {
    const backend = getStorage(name);
    return {
      name,
      type: s.type,
      default: name === config.defaultStorage,
      capabilities: backend.capabilities,
    };
  });
}

export function resetStorages(): void {
  instances.clear();
}
