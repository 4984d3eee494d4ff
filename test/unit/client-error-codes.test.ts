import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorCodesFile, renderErrorCodes } from '../../client/scripts/gen-error-codes';
import { errorCodes as clientCodes } from '../../client/src/error-codes';
import { errorFromResponse } from '../../client/src/errors';
import { errorCodes } from '../../shared/errors';
import { readApiError } from '../../shared/http/read-error';

/**
 * The SDK carries its own copy of the service's error catalogue (it must not import server code):
 * client/src/error-codes.ts, generated from shared/errors.ts by `npm run client:error-codes`.
 */
describe('the SDK error codes', () => {
  it('client/src/error-codes.ts is what shared/errors.ts generates (run npm run client:error-codes)', () => {
    expect(readFileSync(errorCodesFile, 'utf8')).toBe(renderErrorCodes());
    expect(clientCodes).toEqual(errorCodes);
  });

  it("reads answers as the service's own tooling does (shared/http/read-error.ts)", async () => {
    const bodies = [
      '{"error":{"code":"QUOTA_EXCEEDED","message":"no room"}}',
      '{"message":"Unauthorized"}',
      'upstream connect error',
      '',
    ];
    for (let status = 400; status < 600; status++) {
      for (const body of bodies) {
        const headers = status === 503 ? { 'retry-after': '4' } : undefined;
        const expected = readApiError(status, body, headers);
        const actual = await errorFromResponse(new Response(body, { status, headers }));
        expect(
          { code: actual.code, source: actual.source, retry: actual.retryAfterSeconds },
          `${status} ${body}`,
        ).toEqual({ code: expected.code, source: expected.source, retry: expected.retryAfterSeconds });
        if (expected.source === 'service' || body.startsWith('{'))
          expect(actual.message).toBe(expected.message);
      }
    }
  });
});
