import { resolve } from 'node:path';
import { ConfigError, getConfig, type StorageInstanceConfig } from '../config';
import { AppError } from '../errors';
import { AliyunOssBackend } from './aliyun-oss';
import { AzureBlobBackend } from './azure-blob';
import type { StorageBackend } from './contract';
import { LocalDiskBackend } from './local-disk';
import { MinioBackend } from './minio';
import { S3Backend } from './s3';

const instances = new Map<string, StorageBackend>();

/** The named storage instance (`storages.MyOss`), or the default one; built once per cold start. */
export function getStorage(name?: string | null): StorageBackend {
  const config = getConfig();
  const instanceName = name || config.defaultStorage;
  const existing = instances.get(instanceName);
  if (existing) return existing;
  const settings = config.storages[instanceName];
  if (!settings) throw new AppError('UNKNOWN_STORAGE', `Unknown storage instance: ${instanceName}`);
  let backend: StorageBackend;
  try {
    backend = build(instanceName, settings);
  } catch (e) {
    // An SDK that refuses its settings: as clear as a configuration error, without echoing secrets.
    throw new ConfigError(
      `Invalid configuration: ${instanceName} (${settings.type}): ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  instances.set(instanceName, backend);
  return backend;
}

function build(instanceName: string, settings: StorageInstanceConfig): StorageBackend {
  const config = getConfig();
  switch (settings.type) {
    case 'local-disk':
      return new LocalDiskBackend({
        name: instanceName,
        root: resolve(settings.root),
        signingSecret: config.signingSecret,
        publicBaseUrl: config.publicBaseUrl,
      });
    case 's3':
      return new S3Backend({ name: instanceName, ...settings });
    case 'minio':
      return new MinioBackend({ name: instanceName, ...settings });
    case 'azure-blob':
      return new AzureBlobBackend({ name: instanceName, ...settings });
    case 'aliyun-oss':
      return new AliyunOssBackend({ name: instanceName, ...settings });
  }
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
