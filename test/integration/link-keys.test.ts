import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetConfig } from '../../shared/config';
import type { AppError } from '../../shared/errors';
import { loadSecrets, resetSecrets } from '../../shared/secrets';
import { createLink, openPreview } from '../../shared/service/links';
import { AwsErrorAnswer, type AwsJsonServer, startAwsJsonServer } from '../helpers/aws-json-server';
import { principal, setupTestEnv, type TestEnv } from '../helpers/env';
import { upload } from '../helpers/service-helpers';

/**
 * Rotating the signing key: links carry the id of the key that signed them, and the key before the
 * last rotation stays valid, locally (SIGNING_SECRET_PREVIOUS) and in AWS (Secrets Manager's
 * AWSPREVIOUS version, read again by a warm function that meets a key it does not know).
 */
const KEY_A = 'a'.repeat(48);
const KEY_B = 'b'.repeat(48);
const KEY_C = 'c'.repeat(48);

let env: TestEnv;
beforeAll(async () => {
  env = await setupTestEnv({ SIGNING_SECRET: KEY_A });
  await upload(principal('keys'), 'doc.txt', 'rotated');
});
afterAll(async () => {
  resetSecrets();
  await env?.cleanup();
});

const failure = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: AppError) => `${e.status} ${e.code}`,
  );

async function makeLink() {
  const link = await createLink({
    tenant: 'keys',
    path: 'doc.txt',
    disposition: 'inline',
    baseUrl: 'http://x',
  });
  const q = new URL(link.url).searchParams;
  return {
    tenant: 'keys',
    path: 'doc.txt',
    disposition: q.get('disposition') ?? '',
    expires: q.get('expires') ?? '',
    kid: q.get('kid') ?? '',
    signature: q.get('signature') ?? '',
  };
}
const opens = (link: Awaited<ReturnType<typeof makeLink>>) =>
  failure(openPreview(link).then((r) => r.record.path));

describe('signing key rotation (integration)', () => {
  it('locally: the previous key keeps its links valid until it is dropped', async () => {
    env.reconfigure({ SIGNING_SECRET: KEY_A, SIGNING_SECRET_PREVIOUS: undefined });
    const before = await makeLink();
    env.reconfigure({ SIGNING_SECRET: KEY_B, SIGNING_SECRET_PREVIOUS: KEY_A });
    const after = await makeLink();
    expect(after.kid).not.toBe(before.kid);
    expect(await opens(before)).toBe('ok');
    expect(await opens(after)).toBe('ok');
    env.reconfigure({ SIGNING_SECRET: KEY_B, SIGNING_SECRET_PREVIOUS: undefined });
    expect(await opens(before)).toBe('403 INVALID_LINK');
    expect(await opens(after)).toBe('ok');
    // A link whose key id was swapped for the current one is a wrong signature, nothing more.
    expect(await opens({ ...before, kid: after.kid })).toBe('404 NOT_FOUND');
  });

  describe('in AWS, through Secrets Manager', () => {
    let secretsManager: AwsJsonServer;
    const requests: { SecretId: string; VersionStage?: string }[] = [];
    const versions: Record<string, string | undefined> = { AWSCURRENT: KEY_A };

    beforeAll(async () => {
      // GetSecretValue by staging label; a label with no version is ResourceNotFoundException.
      secretsManager = await startAwsJsonServer((input: { SecretId: string; VersionStage?: string }) => {
        requests.push(input);
        const value = versions[input.VersionStage ?? 'AWSCURRENT'];
        return value === undefined
          ? new AwsErrorAnswer('ResourceNotFoundException', 'no such version')
          : { ARN: input.SecretId, SecretString: value };
      });
    });
    afterAll(() => secretsManager.close());

    it('a warm function reads AWSCURRENT and AWSPREVIOUS again when a link names a key it does not know', async () => {
      const arn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:signing-AbCdEf';
      env.reconfigure({
        AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.endpoint,
        SIGNING_SECRET_ARN: arn,
        SIGNING_SECRET: undefined,
        SIGNING_SECRET_PREVIOUS: undefined,
      });
      resetSecrets();
      await loadSecrets();
      resetConfig();
      expect(requests).toEqual([{ SecretId: arn }]);
      const signedWithA = await makeLink();

      // The key rotates; a new cold start signs with B. This warm function still knows only A.
      versions.AWSCURRENT = KEY_B;
      versions.AWSPREVIOUS = KEY_A;
      env.reconfigure({ SIGNING_SECRET: KEY_B });
      const signedWithB = await makeLink();
      env.reconfigure({ SIGNING_SECRET: KEY_A });

      expect(await opens(signedWithA)).toBe('ok');
      expect(requests).toHaveLength(1);
      expect(await opens(signedWithB)).toBe('ok');
      expect(
        requests
          .slice(1)
          .map((r) => r.VersionStage)
          .sort(),
      ).toEqual(['AWSCURRENT', 'AWSPREVIOUS']);
      // Both keys are known now; new links are signed with the current one.
      expect(await opens(signedWithA)).toBe('ok');
      expect((await makeLink()).kid).toBe(signedWithB.kid);

      // A key nobody has: refused, and within the minute it costs no further reads.
      versions.AWSCURRENT = KEY_C;
      expect(await opens({ ...signedWithB, kid: 'unknownkey00' })).toBe('403 INVALID_LINK');
      expect(requests).toHaveLength(3);
    });
  });
});
