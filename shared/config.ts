import * as z from 'zod';

/**
 * Configuration comes from the environment, is validated once per cold start, and fails with a
 * message naming the variable (or the storage instance and field) that is wrong.
 */
const localDiskStorage = z.object({
  type: z.literal('local-disk'),
  /** Folder that holds the objects. */
  root: z.string().min(1),
});

export const storageInstanceSchema = z.discriminatedUnion('type', [localDiskStorage]);
export type StorageInstanceConfig = z.infer<typeof storageInstanceSchema>;

const storageName = z.string().regex(/^storages\.[A-Za-z0-9_-]{1,64}$/, 'must look like storages.Name');

const GiB = 1024 ** 3;
const int = (def: number) => z.coerce.number().int().nonnegative().default(def);

const envSchema = z.object({
  TABLE_NAME: z.string().min(1).default('storage-files'),
  DYNAMODB_ENDPOINT: z.string().url().optional(),
  AWS_REGION: z.string().min(1).default('us-east-1'),
  STORAGES: z.string().optional(),
  DEFAULT_STORAGE: storageName.default('storages.Default'),
  MAX_FILE_BYTES: int(5 * GiB),
  /** API Gateway + Lambda cap a request near 6 MB, so the body of an API upload is capped lower than a direct upload. */
  MAX_API_UPLOAD_BYTES: int(4.5 * 1024 * 1024),
  ALLOWED_CONTENT_TYPES: z.string().default('*/*'),
  PRESIGN_TTL_SECONDS: int(300),
  DEFAULT_QUOTA_BYTES: int(10 * GiB),
  SIGNING_SECRET: z.string().min(32, 'must be at least 32 characters'),
  PUBLIC_BASE_URL: z.string().url().optional(),
  TENANT_CLAIM: z.string().min(1).default('tenant'),
  /** Extra time a PENDING direct upload may take past its URL expiry before the sweeper reaps it. */
  PENDING_GRACE_SECONDS: int(900),
  /** The DynamoDB TTL attribute is only a backstop, set this long after the real expiry. */
  TTL_GRACE_SECONDS: int(86_400),
  /** Remove an expired file when a read meets it (off for functions that are read-only in IAM). */
  CLEANUP_ON_READ: z.enum(['true', 'false']).default('true'),
});

export interface Config {
  tableName: string;
  dynamoEndpoint?: string;
  region: string;
  storages: Record<string, StorageInstanceConfig>;
  defaultStorage: string;
  maxFileBytes: number;
  maxApiUploadBytes: number;
  allowedContentTypes: string[];
  presignTtlSeconds: number;
  defaultQuotaBytes: number;
  signingSecret: string;
  publicBaseUrl?: string;
  tenantClaim: string;
  pendingGraceSeconds: number;
  ttlGraceSeconds: number;
  cleanupOnRead: boolean;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const describeIssues = (prefix: string, error: z.ZodError) =>
  error.issues.map((i) => `${prefix}${i.path.join('.')}: ${i.message}`).join('; ');

export function parseConfig(env: Record<string, string | undefined>): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(`Invalid configuration: ${describeIssues('', parsed.error)}`);
  const e = parsed.data;

  let rawStorages: unknown = { 'storages.Default': { type: 'local-disk', root: '.data/objects' } };
  if (e.STORAGES) {
    try {
      rawStorages = JSON.parse(e.STORAGES);
    } catch {
      throw new ConfigError('Invalid configuration: STORAGES is not valid JSON');
    }
  }
  if (typeof rawStorages !== 'object' || rawStorages === null || Array.isArray(rawStorages)) {
    throw new ConfigError('Invalid configuration: STORAGES must be an object of named instances');
  }
  const storages: Record<string, StorageInstanceConfig> = {};
  for (const [name, value] of Object.entries(rawStorages)) {
    if (!storageName.safeParse(name).success) {
      throw new ConfigError(
        `Invalid configuration: storage instance "${name}" must be named like storages.Name`,
      );
    }
    const instance = storageInstanceSchema.safeParse(value);
    if (!instance.success) {
      throw new ConfigError(`Invalid configuration: ${describeIssues(`${name}.`, instance.error)}`);
    }
    storages[name] = instance.data;
  }
  const defaultStorage = storages[e.DEFAULT_STORAGE] ? e.DEFAULT_STORAGE : 'storages.Default';
  if (!storages[defaultStorage]) {
    throw new ConfigError(
      `Invalid configuration: DEFAULT_STORAGE ${e.DEFAULT_STORAGE} is not a configured instance`,
    );
  }
  return {
    tableName: e.TABLE_NAME,
    dynamoEndpoint: e.DYNAMODB_ENDPOINT,
    region: e.AWS_REGION,
    storages,
    defaultStorage,
    maxFileBytes: e.MAX_FILE_BYTES,
    maxApiUploadBytes: e.MAX_API_UPLOAD_BYTES,
    allowedContentTypes: e.ALLOWED_CONTENT_TYPES.split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
    presignTtlSeconds: e.PRESIGN_TTL_SECONDS,
    defaultQuotaBytes: e.DEFAULT_QUOTA_BYTES,
    signingSecret: e.SIGNING_SECRET,
    publicBaseUrl: e.PUBLIC_BASE_URL?.replace(/\/+$/, ''),
    tenantClaim: e.TENANT_CLAIM,
    pendingGraceSeconds: e.PENDING_GRACE_SECONDS,
    ttlGraceSeconds: e.TTL_GRACE_SECONDS,
    cleanupOnRead: e.CLEANUP_ON_READ === 'true',
  };
}

let cached: Config | undefined;

/** Read once per cold start. */
export function getConfig(): Config {
  cached ??= parseConfig(process.env);
  return cached;
}

/** Tests and the local runtime change the environment between runs. */
export function resetConfig(): void {
  cached = undefined;
}
