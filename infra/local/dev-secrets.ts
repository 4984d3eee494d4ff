import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DevSecrets {
  /** HS256 key of the local dev tokens (stands in for the API Gateway JWT authorizer). */
  jwtSecret: string;
  /** HMAC key of signed links and local upload URLs. */
  signingSecret: string;
}

/**
 * Secrets of the one-machine runtime, created on first use and kept in DATA_DIR so tokens and
 * links survive a restart. Never used in AWS, where secrets come from Secrets Manager.
 */
export function loadDevSecrets(dataDir: string): DevSecrets {
  const file = join(dataDir, 'dev-secrets.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as DevSecrets;
  } catch {
    mkdirSync(dataDir, { recursive: true });
    const secrets = {
      jwtSecret: randomBytes(32).toString('hex'),
      signingSecret: randomBytes(32).toString('hex'),
    };
    writeFileSync(file, JSON.stringify(secrets), { mode: 0o600, flag: 'wx' });
    return secrets;
  }
}

export const dataDirFromEnv = () => process.env.DATA_DIR || '.data';
