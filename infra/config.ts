import * as z from 'zod';
import { storageInstanceSchema } from '../shared/config';

/**
 * Deployment settings, from CDK context (`cdk.json` or `-c storage:key=value`) or from props in
 * code. Context values given on the command line arrive as strings, so numbers, lists and JSON are
 * parsed here, and a wrong value fails the synth with the key's name.
 */
export const CONTEXT_PREFIX = 'storage:';

/**
 * Settings that are credentials. Both keys of a pair count: the pair lives in the secret. Anything
 * named like a secret, password, token or key counts too, so a new backend field cannot slip through.
 */
const SECRET_KEYS = new Set([
  'accessKeyId',
  'accessKeySecret',
  'secretAccessKey',
  'sessionToken',
  'sasToken',
]);
const isSecretKey = (key: string) =>
  key !== 'credentialsSecretArn' &&
  (SECRET_KEYS.has(key) || /secret|password|passwd|token|connectionstring|accountkey|privatekey/i.test(key));

const storageName = z.string().regex(/^storages\.[A-Za-z0-9_-]{1,64}$/, 'must look like storages.Name');

/**
 * A storage instance besides the stack's own bucket (`storages.Default`). Its settings go to the
 * functions as they are, except credentials: they live in Secrets Manager and only the secret's ARN
 * is passed (`credentialsSecretArn`), readable by the functions that touch storage.
 */
const extraStorage = z
  .looseObject({
    type: z.string().min(1),
    bucketName: z.string().optional(),
    credentialsSecretArn: z.string().startsWith('arn:').optional(),
  })
  .superRefine((instance, ctx) => {
    const secrets = Object.keys(instance).filter(isSecretKey);
    for (const key of secrets) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message:
          'would be written in plain text into every function environment: put the credentials in a Secrets Manager secret and give its ARN as credentialsSecretArn',
      });
    }
    if (secrets.length) return;
    // What the functions will parse at cold start, checked at synth time (e.g. an http: endpoint).
    const parsed = storageInstanceSchema.safeParse(instance);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        ctx.addIssue({ code: 'custom', path: issue.path.map(String), message: issue.message });
      }
    }
  });
export type ExtraStorage = z.infer<typeof extraStorage>;

const list = z
  .union([z.array(z.string()), z.string()], { error: 'must be a value or a comma-separated list of values' })
  .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter(Boolean));

const json = <T extends z.ZodType>(schema: T) =>
  z
    .union([
      z.string().transform((s, ctx) => {
        try {
          return JSON.parse(s) as unknown;
        } catch {
          ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
          return z.NEVER;
        }
      }),
      z.record(z.string(), z.unknown()),
    ])
    .pipe(schema);

const posInt = z.coerce.number().int().positive();

/** The retention periods CloudWatch Logs accepts. */
const RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

export const stackConfigSchema = z.object({
  /**
   * OIDC issuer of the JWT authorizer, e.g. https://cognito-idp.{region}.amazonaws.com/{poolId}.
   * Absent: the stack creates its own Cognito user pool and app client (infra/constructs/auth.ts).
   */
  jwtIssuer: z.url({ protocol: /^https$/, error: 'must be the https URL of an OIDC issuer' }).optional(),
  /** Accepted `aud` (or Cognito access token `client_id`) values; required with jwtIssuer. */
  jwtAudience: list.pipe(z.array(z.string()).min(1, 'needs at least one audience')).optional(),
  /** With jwtIssuer: the client id the admin UI signs in with (public client, code flow with PKCE). */
  uiClientId: z.string().min(1).optional(),
  /** With jwtIssuer: the scopes the admin UI asks for (space- or comma-separated). */
  uiScopes: z
    .union([z.array(z.string()), z.string()])
    .transform((v) => (Array.isArray(v) ? v : v.split(/[\s,]+/)).map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(z.string()).min(1, 'needs at least one scope'))
    .optional(),
  /** Browser origins allowed to call the API and upload straight to the bucket. */
  allowedOrigins: list.default([]),
  defaultStorage: storageName.default('storages.Default'),
  storages: json(z.record(storageName, extraStorage)).default({}),
  tenantClaim: z.string().min(1).default('tenant'),
  /**
   * The operator identity: `claim=value` an operator's token carries besides the storage:manage
   * scope (e.g. `cognito:groups=storage-operators`, or `client_id=<ops app client>` for a separate
   * client). Absent: no token may make operator calls.
   */
  operatorClaim: z
    .string()
    .regex(/^[^=\s]+=[^=\s]+$/, 'must look like claim=value, e.g. cognito:groups=storage-operators')
    .optional(),
  defaultQuotaBytes: posInt.optional(),
  /** Items each tenant's quota counter is spread over (docs/decisions.md, "A hot tenant"); only ever raise it. */
  quotaShards: posInt.max(64).optional(),
  maxFileBytes: posInt.optional(),
  allowedContentTypes: z.string().min(1).optional(),
  presignTtlSeconds: posInt.optional(),
  /** A custom domain in front of the API, used in the URLs the service returns. */
  publicBaseUrl: z.url().optional(),
  sweepRateMinutes: posInt.default(5),
  /** How often the integrity audit runs (report only; findings are logged as errors). */
  auditRateHours: posInt.default(24),
  removalPolicy: z.enum(['retain', 'destroy']).default('retain'),
  /** Bucket encryption: absent = S3-managed keys; `create` = a new customer-managed KMS key; or a key ARN. */
  bucketKmsKey: z.union([z.literal('create'), z.string().startsWith('arn:')]).optional(),
  logRetentionDays: z.coerce
    .number()
    .refine((d) => RETENTION_DAYS.includes(d), `must be one of ${RETENTION_DAYS.join(', ')}`)
    .default(30),
  logLevel: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
  throttleRateLimit: posInt.default(100),
  throttleBurstLimit: posInt.default(200),
  /** The routes that need no token (preview) and `$default`: per route, so anonymous traffic cannot use up the stage's limit. */
  anonymousThrottleRateLimit: posInt.default(20),
  anonymousThrottleBurstLimit: posInt.default(40),
});

export type StackConfigInput = z.input<typeof stackConfigSchema>;
export type StackConfig = z.output<typeof stackConfigSchema>;

export function parseStackConfig(input: StackConfigInput | Record<string, unknown>): StackConfig {
  const parsed = stackConfigSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${CONTEXT_PREFIX}${i.path.join('.')}: ${i.message}`);
    throw new Error(`Invalid stack configuration (CDK context):\n  ${problems.join('\n  ')}`);
  }
  const config = parsed.data;
  if (config.jwtIssuer && !config.jwtAudience) {
    throw new Error(
      `${CONTEXT_PREFIX}jwtAudience: required with ${CONTEXT_PREFIX}jwtIssuer (the aud, or Cognito client_id, its tokens carry)`,
    );
  }
  // Without an issuer the stack makes its own pool, whose only audience is the client it creates.
  for (const key of ['jwtAudience', 'uiClientId', 'uiScopes'] as const) {
    if (!config.jwtIssuer && config[key] !== undefined) {
      throw new Error(
        `${CONTEXT_PREFIX}${key}: only with ${CONTEXT_PREFIX}jwtIssuer; without one the stack creates its own user pool and app client`,
      );
    }
  }
  if (config.storages['storages.Default']) {
    throw new Error(`${CONTEXT_PREFIX}storages: storages.Default is the stack's own bucket; name others`);
  }
  if (config.defaultStorage !== 'storages.Default' && !config.storages[config.defaultStorage]) {
    throw new Error(`${CONTEXT_PREFIX}defaultStorage: ${config.defaultStorage} is not a configured instance`);
  }
  return config;
}

/** Reads every `storage:*` context key of the app. */
export function configFromContext(tryGetContext: (key: string) => unknown): StackConfig {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(stackConfigSchema.shape)) {
    const value = tryGetContext(`${CONTEXT_PREFIX}${key}`);
    if (value !== undefined && value !== '') raw[key] = value;
  }
  return parseStackConfig(raw);
}
