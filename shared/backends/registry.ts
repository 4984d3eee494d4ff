import { resolve } from 'node:path';
import { getConfig } from '../config';
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
  switch (settings.type) {
    case 'local-disk':
      backend = new LocalDiskBackend({
        name: instanceName,
        root: resolve(settings.root),
        signingSecret: config.signingSecret,
        publicBaseUrl: config.publicBaseUrl,
      });
      break;
    case 's3':
      backend = new S3Backend({ name: instanceName, ...settings });
      break;
    case 'minio':
      backend = new MinioBackend({ name: instanceName, ...settings });
      break;
    case 'azure-blob':
      backend = new AzureBlobBackend({ name: instanceName, ...settings });
      break;
    case 'aliyun-oss':
      backend = new AliyunOssBackend({ name: instanceName, ...settings });
      break;
  }
  instances.set(instanceName, backend);
  return backend;
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
