import { Readable } from 'node:stream';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resetConfig } from '../../shared/config';
import { type ApiEvent, httpHandler, LAMBDA_BODY_LIMIT } from '../../shared/http/api';

/**
 * A handler's binary body as Lambda returns it (no local server around it): base64 in one string
 * within the 6 MB response cap, or a clear error instead of a response Lambda would refuse.
 */
const event = {
  version: '2.0',
  routeKey: 'GET /v1/test',
  rawPath: '/v1/test',
  rawQueryString: '',
  headers: { host: 'test.local' },
  isBase64Encoded: false,
  requestContext: {
    http: { method: 'GET', path: '/v1/test', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
    requestId: 'r',
    routeKey: 'GET /v1/test',
    stage: '$default',
    time: new Date(0).toISOString(),
    timeEpoch: 0,
  },
} as unknown as ApiEvent;
const context = { functionName: 'test', awsRequestId: 'r' } as Context;
const respond = (body: Buffer | Readable) =>
  httpHandler(null, async () => ({ status: 200, headers: { 'content-type': 'image/webp' }, body }))(
    event,
    context,
  );

/** 6 MB, the whole response Lambda returns, as its docs count it. */
const RESPONSE_CAP = 6 * 1024 * 1024;

describe('binary bodies in a Lambda response', () => {
  beforeAll(() => {
    process.env.SIGNING_SECRET = 's'.repeat(32);
    resetConfig();
  });
  afterAll(() => {
    delete process.env.SIGNING_SECRET;
    resetConfig();
  });

  it('bytes and streams come back base64, byte for byte', async () => {
    const bytes = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
    for (const body of [bytes, Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)])]) {
      const result = await respond(body);
      expect(result.statusCode).toBe(200);
      expect(result.isBase64Encoded).toBe(true);
      expect(Buffer.from(result.body as string, 'base64').equals(bytes)).toBe(true);
    }
  });

  it('the largest body allowed still fits the response cap once base64', async () => {
    const result = await respond(Buffer.alloc(LAMBDA_BODY_LIMIT, 7));
    expect(result.statusCode).toBe(200);
    expect(JSON.stringify(result).length).toBeLessThan(RESPONSE_CAP);
  });

  it('a body whose base64 would pass the cap answers an error, as bytes or as a stream', async () => {
    // 5 MiB: under 6 MiB itself, over it once base64 (the old check let it through).
    const size = 5 * 1024 * 1024;
    for (const body of [
      Buffer.alloc(size),
      Readable.from([Buffer.alloc(size / 2), Buffer.alloc(size / 2)]),
    ]) {
      const result = await respond(body);
      expect(result.statusCode).toBe(502);
      expect(JSON.parse(result.body as string).error.code).toBe('BACKEND_ERROR');
    }
  });
});
