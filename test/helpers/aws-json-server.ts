import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An AWS error, answered as the JSON protocol does (`__type` and x-amzn-errortype). */
export class AwsErrorAnswer {
  constructor(
    readonly type: string,
    readonly message: string,
  ) {}
}

export interface AwsJsonServer {
  /** For AWS_ENDPOINT_URL_<SERVICE>. */
  endpoint: string;
  close(): Promise<void>;
}

/**
 * Stands in for an AWS service of the JSON protocol (Secrets Manager, EventBridge): each request's
 * parsed body and X-Amz-Target go to `answer`, whose result is the response body.
 */
export async function startAwsJsonServer(
  // biome-ignore lint/suspicious/noExplicitAny: each stand-in reads the fields of its one operation
  answer: (input: any, target: string | undefined) => unknown,
): Promise<AwsJsonServer> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const out = answer(JSON.parse(body), req.headers['x-amz-target'] as string | undefined);
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      if (out instanceof AwsErrorAnswer) {
        res.statusCode = 400;
        res.setHeader('x-amzn-errortype', out.type);
        res.end(JSON.stringify({ __type: out.type, message: out.message }));
        return;
      }
      res.end(JSON.stringify(out));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
