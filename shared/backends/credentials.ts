import { ConfigError } from '../config';
import * as z from '../zod';

export interface Credentials {
  accessKeyId: string;
  accessKeySecret: string;
}

const secretShape = z.object({
  accessKeyId: z.string().check(z.minLength(1)),
  accessKeySecret: z.string().check(z.minLength(1)),
});

/**
 * The credentials of a storage instance: given in its settings, or read from the Secrets Manager
 * secret named by `credentialsSecretArn` (JSON `{"accessKeyId": "...", "accessKeySecret": "..."}`),
 * once per cold start and only by a function that uses the instance. Errors name the instance and
 * the secret, never a value. Undefined for an s3 instance without any (the SDK's own chain).
 */
export async function resolveCredentials(
  instance: string,
  settings: { accessKeyId?: string; accessKeySecret?: string; credentialsSecretArn?: string },
): Promise<Credentials | undefined> {
  if (settings.accessKeyId && settings.accessKeySecret) {
    return { accessKeyId: settings.accessKeyId, accessKeySecret: settings.accessKeySecret };
  }
  const arn = settings.credentialsSecretArn;
  if (!arn) return undefined;
  // Loaded on first use, as in shared/secrets.ts: deployments without such secrets never load it.
  const { GetSecretValueCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
  const client = new SecretsManagerClient({});
  let text: string | undefined;
  try {
    text = (await client.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString;
  } finally {
    client.destroy();
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text ?? '');
  } catch {
    parsed = undefined;
  }
  const result = secretShape.safeParse(parsed);
  if (!result.success) {
    throw new ConfigError(
      `Invalid configuration: ${instance}.credentialsSecretArn: the secret ${arn} must hold JSON with accessKeyId and accessKeySecret`,
    );
  }
  return result.data;
}
