/**
 * In AWS the template carries only SIGNING_SECRET_ARN (never the value): the secret is read from
 * Secrets Manager once per cold start and put where configuration reads it, SIGNING_SECRET, the
 * variable the local runtime sets directly. Call it before the first getConfig() of an invocation;
 * it is a no-op where SIGNING_SECRET is already set or no ARN is given (local server, tests).
 */
let loading: Promise<void> | undefined;

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
  // Loaded on first use: the local runtime and the tests never pay for this client.
  const { GetSecretValueCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
  const client = new SecretsManagerClient({});
  try {
    const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    if (!SecretString) throw new Error(`Secret ${arn} has no string value`);
    env.SIGNING_SECRET = SecretString;
  } finally {
    client.destroy();
  }
}

/** Tests: forget what was loaded. */
export function resetSecrets(): void {
  loading = undefined;
}
