import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getStorage, resetStorages } from '../../shared/backends/registry';
import { ConfigError, resetConfig } from '../../shared/config';
import { type AwsJsonServer, startAwsJsonServer } from '../helpers/aws-json-server';
import { type OssServer, startOssServer } from '../helpers/oss-server';

/**
 * Deployed instances carry `credentialsSecretArn` instead of keys (the template never holds them):
 * the registry reads the secret on the instance's first use. A stand-in for Secrets Manager
 * answers GetSecretValue; the OSS test server checks that the keys it held really sign requests.
 */
const GOOD = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:oss-good-AbCdEf';
const BAD = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:oss-bad-AbCdEf';
const secrets: Record<string, string> = {
  [GOOD]: JSON.stringify({ accessKeyId: 'secret-held-key', accessKeySecret: 'secret-held-secret' }),
  [BAD]: 'just a password',
};
let secretsManager: AwsJsonServer;
let oss: OssServer;
const asked: string[] = [];
const saved = { ...process.env };

beforeAll(async () => {
  secretsManager = await startAwsJsonServer((input: { SecretId: string }) => {
    asked.push(input.SecretId);
    return { ARN: input.SecretId, SecretString: secrets[input.SecretId] };
  });
  oss = await startOssServer({
    bucket: 'deployed',
    accessKeyId: 'secret-held-key',
    accessKeySecret: 'secret-held-secret',
    region: 'cn-hangzhou',
  });
  const instance = (arn: string) => ({
    type: 'aliyun-oss',
    region: 'oss-cn-hangzhou',
    bucketName: 'deployed',
    endPoint: oss.endpoint,
    allowHttp: true,
    cname: true,
    credentialsSecretArn: arn,
  });
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    SIGNING_SECRET: 'x'.repeat(40),
    STORAGES: JSON.stringify({
      'storages.Default': { type: 'local-disk', root: '/tmp/unused' },
      'storages.Good': instance(GOOD),
      'storages.Bad': instance(BAD),
    }),
  });
  resetConfig();
  resetStorages();
});

afterAll(async () => {
  process.env = saved;
  resetConfig();
  resetStorages();
  await oss?.stop();
  await secretsManager.close();
});

describe('storage credentials from Secrets Manager', () => {
  it('reads the secret once, on first use, and signs with the keys it holds', async () => {
    const good = getStorage('storages.Good');
    expect(asked).toEqual([]);
    await good.put('a.txt', Buffer.from('kept'), { contentType: 'text/plain' });
    expect((await good.head('a.txt'))?.size).toBe(4);
    expect(asked).toEqual([GOOD]);
    expect(oss.seen.v4).toBeGreaterThanOrEqual(2);
  });

  it('a secret without the keys is a configuration error naming the instance, never the value', async () => {
    const error = await getStorage('storages.Bad')
      .head('a.txt')
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/storages\.Bad\.credentialsSecretArn/);
    expect((error as Error).message).not.toContain('just a password');
  });
});
