import { createHash } from 'node:crypto';
import * as z from './zod';

/**
 * Configuration comes from the environment, is validated once per cold start, and fails with a
 * message naming the variable (or the storage instance and field) that is wrong.
 */
const localDiskStorage = z.object({
  type: z.literal('local-disk'),
  /** Folder that holds the objects. */
  root: z.string().check(z.minLength(1)),
});

/** A URL, or a bare host[:port] as the storage consoles show them (then https). */
const url = z.pipe(
  z.pipe(
    z.string().check(z.minLength(1)),
    z.transform((v: string) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(v) ? v : `https://${v}`)),
  ),
  z.url({ protocol: /^https?$/, error: 'must be an http(s) URL or a host name' }),
);
const key = z.string().check(z.minLength(1));
/** Bucket (container) names as S3, MinIO, OSS and Azure all accept them: 3-63 lowercase letters, digits, dots and dashes. */
const bucketName = z
  .string()
  .check(
    z.regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be 3-63 lowercase letters, digits, dots or dashes'),
  );
/** Where clients are sent for presigned URLs instead of the endpoint (a CNAME, a CDN). */
const customDomain = z.optional(url);
/**
 * Credentials: accessKeyId and accessKeySecret, or (in AWS) the ARN of a Secrets Manager secret
 * holding them as JSON, read on the instance's first use, so the template never carries them.
 */
const credentials = {
  accessKeyId: z.optional(key),
  accessKeySecret: z.optional(key),
  credentialsSecretArn: z.optional(z.string().check(z.startsWith('arn:', 'must be a Secrets Manager ARN'))),
};

/**
 * Credentials and presigned URLs must not cross the network in clear text: an `http:` endPoint or
 * customDomain is refused unless the instance says `allowHttp: true` (emulators on one machine).
 */
const allowHttp = z._default(z.boolean(), false);

function checkTransport(
  s: { endPoint?: string; customDomain?: string; allowHttp: boolean },
  ctx: z.core.$RefinementCtx<unknown>,
) {
  if (s.allowHttp) return;
  for (const field of ['endPoint', 'customDomain'] as const) {
    if (s[field]?.toLowerCase().startsWith('http:')) {
      ctx.addIssue({
        code: 'custom',
        path: [field],
        message:
          'is http:, which sends keys and signed URLs in clear text; use https, or set allowHttp: true (emulators only)',
      });
    }
  }
}

function checkCredentials(
  s: { accessKeyId?: string; accessKeySecret?: string; credentialsSecretArn?: string },
  ctx: z.core.$RefinementCtx<unknown>,
  required: boolean,
) {
  if (Boolean(s.accessKeyId) !== Boolean(s.accessKeySecret)) {
    ctx.addIssue({
      code: 'custom',
      path: [s.accessKeyId ? 'accessKeySecret' : 'accessKeyId'],
      message: 'accessKeyId and accessKeySecret go together',
    });
  } else if (required && !s.accessKeyId && !s.credentialsSecretArn) {
    ctx.addIssue({
      code: 'custom',
      path: ['accessKeyId'],
      message:
        'is required (with accessKeySecret), unless credentialsSecretArn names a secret that holds them',
    });
  }
}

/**
 * AWS S3, or any S3-compatible store through the AWS SDK. Without credentials the SDK's default
 * chain is used (the Lambda's role in AWS).
 */
const s3Storage = z
  .object({
    type: z.literal('s3'),
    bucketName,
    region: z._default(key, 'us-east-1'),
    /** Omit for AWS; the URL of an S3-compatible store otherwise. */
    endPoint: z.optional(url),
    ...credentials,
    /** true: https://host/bucket/key; false (default): https://bucket.host/key */
    pathStyle: z._default(z.boolean(), false),
    customDomain,
    allowHttp,
    /** Defaults to WHEN_REQUIRED when endPoint is set: many S3-compatible stores reject the SDK's default CRC32 checksums. */
    checksum: z.optional(z.enum(['WHEN_SUPPORTED', 'WHEN_REQUIRED'])),
    /** POST: a policy with content-length-range (the size is enforced by S3); PUT: a presigned PUT. */
    uploadMethod: z._default(z.enum(['POST', 'PUT']), 'POST'),
  })
  .check(
    z.superRefine((s, ctx) => {
      checkCredentials(s, ctx, false);
      checkTransport(s, ctx);
    }),
  );

/** MinIO (or another S3-compatible server) through the minio client. */
const minioStorage = z
  .object({
    type: z.literal('minio'),
    endPoint: url,
    bucketName,
    ...credentials,
    region: z._default(key, 'us-east-1'),
    pathStyle: z._default(z.boolean(), true),
    customDomain,
    allowHttp,
    uploadMethod: z._default(z.enum(['POST', 'PUT']), 'POST'),
  })
  .check(
    z.superRefine((s, ctx) => {
      checkCredentials(s, ctx, true);
      checkTransport(s, ctx);
    }),
  );

/** Azure Blob Storage: accessKeyId is the account name, accessKeySecret the account key, bucketName the container. */
const azureBlobStorage = z
  .object({
    type: z.literal('azure-blob'),
    ...credentials,
    bucketName,
    /** Defaults to https://{accessKeyId}.blob.core.windows.net */
    endPoint: z.optional(url),
    customDomain,
    allowHttp,
  })
  .check(
    z.superRefine((s, ctx) => {
      checkCredentials(s, ctx, true);
      checkTransport(s, ctx);
    }),
  );

/** Aliyun OSS. region like oss-cn-hangzhou; OSS URLs are always virtual-hosted (bucket.endpoint). */
const aliyunOssStorage = z
  .object({
    type: z.literal('aliyun-oss'),
    region: key,
    bucketName,
    ...credentials,
    /** Defaults to https://{region}.aliyuncs.com */
    endPoint: z.optional(url),
    /** endPoint is a domain bound to the bucket (CNAME). */
    cname: z._default(z.boolean(), false),
    customDomain,
    allowHttp,
    signatureVersion: z._default(z.enum(['v1', 'v4']), 'v4'),
  })
  .check(
    z.superRefine((s, ctx) => {
      checkCredentials(s, ctx, true);
      checkTransport(s, ctx);
    }),
  );

export const storageInstanceSchema = z.discriminatedUnion('type', [
  localDiskStorage,
  s3Storage,
  minioStorage,
  azureBlobStorage,
  aliyunOssStorage,
]);
export type StorageInstanceConfig = z.infer<typeof storageInstanceSchema>;

const storageName = z
  .string()
  .check(z.regex(/^storages\.[A-Za-z0-9_-]{1,64}$/, 'must look like storages.Name'));

const GiB = 1024 ** 3;
const int = (def: number) => z._default(z.coerce.number().check(z.int(), z.nonnegative()), def);

const envSchema = z.object({
  TABLE_NAME: z._default(z.string().check(z.minLength(1)), 'storage-files'),
  DYNAMODB_ENDPOINT: z.optional(z.url()),
  AWS_REGION: z._default(z.string().check(z.minLength(1)), 'us-east-1'),
  STORAGES: z.optional(z.string()),
  DEFAULT_STORAGE: z._default(storageName, 'storages.Default'),
  /** S3's largest object. Multipart uploads are joined in place (no copy) where the backend allows it. */
  MAX_FILE_BYTES: int(5 * 1024 * GiB),
  /** Direct uploads above this size are sent in parts (a multipart plan), below it in one request. */
  MULTIPART_THRESHOLD_BYTES: int(32 * 1024 * 1024),
  /** How long a multipart upload may take from plan to complete before the sweeper reaps it. */
  MULTIPART_TTL_SECONDS: int(86_400),
  /**
   * Complete checks (copies and hashes) an object up to this size itself; a larger one is handed
   * to an asynchronous finalize and complete answers 202 VERIFYING, within the API's 29 s.
   */
  VERIFY_INLINE_BYTES: int(64 * 1024 * 1024),
  /**
   * The largest object whose md5 a finalize checks by reading it (asynchronously, within the
   * processor's 5 minutes); a larger upload that declares an md5 is refused at its plan.
   */
  VERIFY_READ_MAX_BYTES: int(5 * GiB),
  /** A long-lived process (the local server) finishes handed-off finalizes itself, in the background. */
  BACKGROUND_FINALIZE: z._default(z.enum(['true', 'false']), 'false'),
  /** API Gateway + Lambda cap a request near 6 MB, so the body of an API upload is capped lower than a direct upload. */
  MAX_API_UPLOAD_BYTES: int(4.5 * 1024 * 1024),
  ALLOWED_CONTENT_TYPES: z._default(z.string(), '*/*'),
  PRESIGN_TTL_SECONDS: int(300),
  DEFAULT_QUOTA_BYTES: int(10 * GiB),
  SIGNING_SECRET: z.string().check(z.minLength(32, 'must be at least 32 characters')),
  /** The key before the last rotation: links it signed stay valid until they expire. */
  SIGNING_SECRET_PREVIOUS: z.optional(z.string().check(z.minLength(32, 'must be at least 32 characters'))),
  /**
   * `claim=value` a token must carry (besides the storage:manage scope) to act as an operator, e.g.
   * `cognito:groups=storage-operators` or `client_id=<the operators' app client>`. Unset: nobody is.
   */
  OPERATOR_CLAIM: z.optional(
    z
      .string()
      .check(
        z.regex(/^[^=\s]+=[^=\s]+$/, 'must look like claim=value, e.g. cognito:groups=storage-operators'),
      ),
  ),
  PUBLIC_BASE_URL: z.optional(z.url()),
  TENANT_CLAIM: z._default(z.string().check(z.minLength(1)), 'tenant'),
  /** Extra time a PENDING direct upload may take past its URL expiry before the sweeper reaps it. */
  PENDING_GRACE_SECONDS: int(900),
  /** How long a finalize (complete or storage event) holds its upload before another may take over, plus the copy's time. */
  FINALIZE_LEASE_SECONDS: int(60),
  /** The DynamoDB TTL attribute is only a backstop, set this long after the real expiry. */
  TTL_GRACE_SECONDS: int(86_400),
  /** Remove an expired file when a read meets it (off for functions that are read-only in IAM). */
  CLEANUP_ON_READ: z._default(z.enum(['true', 'false']), 'true'),
  /** Thumbnails are made of files up to this size (the source is read whole: sharp needs it). */
  THUMBNAIL_MAX_SOURCE_BYTES: int(25 * 1024 * 1024),
  /** ... and of images up to this many pixels (read from the header, before anything is decoded). */
  THUMBNAIL_MAX_PIXELS: int(50_000_000),
  THUMBNAIL_TIMEOUT_SECONDS: z._default(z.coerce.number().check(z.int(), z.positive()), 10),
  /** Cached thumbnail variants per file; requests past it are rendered but not stored. */
  THUMBNAIL_MAX_VARIANTS: int(16),
  /** Rendered after every image upload commits (WxH, comma-separated; empty: none), as WebP with fit cover. */
  THUMBNAIL_EAGER_SIZES: z._default(
    z
      .string()
      .check(
        z.regex(/^(\s*\d{1,4}x\d{1,4}\s*(,\s*\d{1,4}x\d{1,4}\s*)*)?$/, 'must look like 120x120,480x480'),
      ),
    '120x120',
  ),
  /**
   * A long-lived process (the local server) renders the eager sizes itself, in the background, and
   * keeps a thumbnail it rendered for a request after answering it.
   */
  BACKGROUND_THUMBNAILS: z._default(z.enum(['true', 'false']), 'false'),
  /**
   * Items a tenant's quota counter is spread over (1: one counter). More shards let one busy
   * tenant's uploads write different items (docs/decisions.md); it may be raised, never lowered.
   */
  QUOTA_SHARDS: z._default(z.coerce.number().check(z.int(), z.positive(), z.maximum(64)), 1),
});

export interface Config {
  tableName: string;
  dynamoEndpoint?: string;
  region: string;
  storages: Record<string, StorageInstanceConfig>;
  defaultStorage: string;
  maxFileBytes: number;
  multipartThresholdBytes: number;
  multipartTtlSeconds: number;
  verifyInlineBytes: number;
  verifyReadMaxBytes: number;
  backgroundFinalize: boolean;
  maxApiUploadBytes: number;
  allowedContentTypes: string[];
  presignTtlSeconds: number;
  defaultQuotaBytes: number;
  /** HMAC key of local-disk upload URLs (short-lived); the current key of `signingKeys`. */
  signingSecret: string;
  /** Keys of signed links, the current one first; each link names its key by id. */
  signingKeys: SigningKey[];
  operatorClaim?: { name: string; value: string };
  publicBaseUrl?: string;
  tenantClaim: string;
  pendingGraceSeconds: number;
  finalizeLeaseSeconds: number;
  ttlGraceSeconds: number;
  cleanupOnRead: boolean;
  quotaShards: number;
  thumbnails: {
    maxSourceBytes: number;
    maxPixels: number;
    timeoutSeconds: number;
    maxVariants: number;
    eagerSizes: { width: number; height: number }[];
    background: boolean;
  };
}

export interface SigningKey {
  id: string;
  secret: string;
}

/** A key's id is derived from it, so rotating needs no naming; 72 bits of a hash reveal nothing of the key. */
export const signingKeyOf = (secret: string): SigningKey => ({
  id: createHash('sha256').update(`signing-key\n${secret}`).digest('base64url').slice(0, 12),
  secret,
});

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const describeIssues = (prefix: string, error: z.core.$ZodError) =>
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
    multipartThresholdBytes: e.MULTIPART_THRESHOLD_BYTES,
    multipartTtlSeconds: e.MULTIPART_TTL_SECONDS,
    verifyInlineBytes: e.VERIFY_INLINE_BYTES,
    verifyReadMaxBytes: e.VERIFY_READ_MAX_BYTES,
    backgroundFinalize: e.BACKGROUND_FINALIZE === 'true',
    maxApiUploadBytes: e.MAX_API_UPLOAD_BYTES,
    allowedContentTypes: e.ALLOWED_CONTENT_TYPES.split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
    presignTtlSeconds: e.PRESIGN_TTL_SECONDS,
    defaultQuotaBytes: e.DEFAULT_QUOTA_BYTES,
    signingSecret: e.SIGNING_SECRET,
    signingKeys: [e.SIGNING_SECRET, e.SIGNING_SECRET_PREVIOUS]
      .filter((k): k is string => Boolean(k))
      .map(signingKeyOf),
    operatorClaim: e.OPERATOR_CLAIM ? splitClaim(e.OPERATOR_CLAIM) : undefined,
    publicBaseUrl: e.PUBLIC_BASE_URL?.replace(/\/+$/, ''),
    tenantClaim: e.TENANT_CLAIM,
    pendingGraceSeconds: e.PENDING_GRACE_SECONDS,
    finalizeLeaseSeconds: e.FINALIZE_LEASE_SECONDS,
    ttlGraceSeconds: e.TTL_GRACE_SECONDS,
    cleanupOnRead: e.CLEANUP_ON_READ === 'true',
    quotaShards: e.QUOTA_SHARDS,
    thumbnails: {
      maxSourceBytes: e.THUMBNAIL_MAX_SOURCE_BYTES,
      maxPixels: e.THUMBNAIL_MAX_PIXELS,
      timeoutSeconds: e.THUMBNAIL_TIMEOUT_SECONDS,
      maxVariants: e.THUMBNAIL_MAX_VARIANTS,
      eagerSizes: eagerSizes(e.THUMBNAIL_EAGER_SIZES),
      background: e.BACKGROUND_THUMBNAILS === 'true',
    },
  };
}

function eagerSizes(setting: string): { width: number; height: number }[] {
  const sizes = setting
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const [width, height] = s.split('x').map(Number) as [number, number];
      return { width, height };
    });
  for (const { width, height } of sizes) {
    if (width < 1 || height < 1 || width > 2048 || height > 2048) {
      throw new ConfigError('Invalid configuration: THUMBNAIL_EAGER_SIZES: each side must be from 1 to 2048');
    }
  }
  return sizes;
}

function splitClaim(setting: string) {
  const at = setting.indexOf('=');
  return { name: setting.slice(0, at), value: setting.slice(at + 1) };
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
