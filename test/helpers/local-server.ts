import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';
import { loadDevSecrets } from '../../infra/local/dev-secrets';
import { freePort } from '../../infra/local/dynamodb-local';
import { LOCAL_SERVER_ENV, LOCAL_SERVER_NODE_FLAGS } from '../../infra/local/node-flags';
import { signDevToken } from '../../infra/local/tokens';

export interface StartedServer {
  url: string;
  port: number;
  dynamoEndpoint: string;
  output: () => string;
  child: ChildProcess;
  /** A tenant member's dev token (upload, download, delete unless `scope` says otherwise). */
  token(tenant: string, user?: string, scope?: string, extra?: Record<string, unknown>): Promise<string>;
  /** An operator's dev token, as `npm run token -- --operator` makes it. */
  operatorToken(user?: string): Promise<string>;
  /** Ctrl-C, and wait for the process to exit. Resolves with its exit code. */
  stop(): Promise<number | null>;
}

/** Starts the service exactly as `npm start` does (infra/local/start.ts), in its own process. */
export async function startServer(dataDir: string, env: Record<string, string> = {}): Promise<StartedServer> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [...LOCAL_SERVER_NODE_FLAGS, '--import', 'tsx', 'infra/local/start.ts'],
    {
      env: { ...process.env, ...LOCAL_SERVER_ENV, PORT: String(port), DATA_DIR: dataDir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 60_000);
    const check = () => {
      if (output.includes('DynamoDB Local on')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output}`));
    });
  });
  child.removeAllListeners('exit');
  const dynamoEndpoint = /DynamoDB Local on (\S+)/.exec(output)?.[1] ?? '';
  const secrets = loadDevSecrets(dataDir);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dynamoEndpoint,
    output: () => output,
    child,
    token: (tenant, user = `${tenant}-user`, scope, extra) =>
      signDevToken(secrets.jwtSecret, { tenant, user, scope, extra }),
    operatorToken: (user = 'operator') => signDevToken(secrets.jwtSecret, { user, operator: true }),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGINT');
      }),
  };
}

/** A request with the path sent exactly as given (fetch would resolve "..", as browsers do). */
export function rawRequest(
  url: string,
  method: string,
  rawPath: string,
  headers: Record<string, string> = {},
  body?: Buffer | string,
): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({ host: u.hostname, port: u.port, method, path: rawPath, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = text;
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Whether something accepts TCP connections at the endpoint's host and port. */
export const portOpen = (endpoint: string) =>
  new Promise<boolean>((resolve) => {
    const { hostname, port } = new URL(endpoint);
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

/**
 * Writes bytes to the server as they are (fetch and http.request refuse to send malformed HTTP)
 * and reads the answer until the server closes the connection.
 */
export function rawSocketExchange(
  url: string,
  bytes: string | Buffer,
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split(/\r\n\r\n(.*)/s);
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body });
    });
    socket.once('connect', () => socket.write(bytes));
  });
}
