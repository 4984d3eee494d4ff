import { resetConfig } from './config';
import { logger } from './logger';

/**
 * In AWS the template carries only SIGNING_SECRET_ARN (never the value): the secret is read from
 * Secrets Manager once per cold start and put where configuration reads it, SIGNING_SECRET, the
 * variable the local runtime sets directly. Call it before the first getConfig() of an invocation;
 * it is a no-op where SIGNING_SECRET is already set or no ARN is given (local server, tests).
 */
let loading: Promise<void> | undefined;
/** Whether this process took the key from the ARN (and so may read it again after a rotation). */
let fromArn = false;
let lastRefresh = 0;

/** A rotation is rare; one re-read a minute bounds what links with unknown key ids can cost. */
const REFRESH_INTERVAL_MS = 60_000;

export function loadSecrets(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  loading ??= load(env).catch((e: unknown) => {
    loading = undefined; // a failed read (throttling, network) is retried by the next invocation
    throw e;
  });
  return loading;
}

async function load(env: NodeJS.ProcessEnv): Promise<void> {
  const arn = env.SIGNING_SECRET_ARN;
  if (!arn || env.SIGNING_SECRET) return;
  const [current] = await readVersions(arn, [undefined]);
  if (!current) throw new Error(`Secret ${arn} has no string value`);
  env.SIGNING_SECRET = current;
  fromArn = true;
}

/** The secret's string values at these staging labels (undefined: the default, AWSCURRENT). */
async function readVersions(arn: string, stages: (string | undefined)[]): Promise<(string | undefined)[]> {
  // Loaded on first use: the local runtime and the tests never pay for this client.
  const { GetSecretValueCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
  const client = new SecretsManagerClient({});
  try {
    return await Promise.all(
      stages.map(async (stage) => {
        try {
          const out = await client.send(
            new GetSecretValueCommand({ SecretId: arn, ...(stage ? { VersionStage: stage } : {}) }),
          );
          return out.SecretString || undefined;
        } catch (e) {
          // A secret never rotated has no AWSPREVIOUS version.
          if (stage && (e as Error).name === 'ResourceNotFoundException') return undefined;
          throw e;
        }
      }),
    );
  } finally {
    client.destroy();
  }
}

/**
 * Secrets Manager keeps the key before the last rotation as AWSPREVIOUS. A warm function knows only
 * the key it started with, so when a link names a key it does not know (signed by a newer cold
 * start, or before a rotation), it reads AWSCURRENT and AWSPREVIOUS again, at most once a minute.
 * Returns whether the keys changed (configuration is then read again).
 */
export async function refreshSigningKeys(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const arn = env.SIGNING_SECRET_ARN;
  if (!arn || !fromArn || Date.now() - lastRefresh < REFRESH_INTERVAL_MS) return false;
  lastRefresh = Date.now();
  try {
    const [current, previous] = await readVersions(arn, ['AWSCURRENT', 'AWSPREVIOUS']);
    if (!current || (current === env.SIGNING_SECRET && previous === env.SIGNING_SECRET_PREVIOUS))
      return false;
    env.SIGNING_SECRET = current;
    if (previous) env.SIGNING_SECRET_PREVIOUS = previous;
    else delete env.SIGNING_SECRET_PREVIOUS;
    resetConfig();
    return true;
  } catch (e) {
    logger.warn('could not read the signing keys again', { error: e as Error });
    return false;
  }
}

/** Tests: forget what was loaded. */
export function resetSecrets(): void {
  loading = undefined;
  fromArn = false;
  lastRefresh = 0;
}
