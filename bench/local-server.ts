import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { loadDevSecrets } from '../infra/local/dev-secrets';
import { LOCAL_SERVER_ENV, LOCAL_SERVER_NODE_FLAGS } from '../infra/local/node-flags';
import { signDevToken } from '../infra/local/tokens';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Variables the service reads (shared/config.ts, the local runtime, the secret and the event bus):
 * the child gets the benchmark's values, never ones left in the shell.
 */
const SERVICE_VARS = [
  'TABLE_NAME',
  'DYNAMODB_ENDPOINT',
  'STORAGES',
  'DEFAULT_STORAGE',
  'SIGNING_SECRET',
  'SIGNING_SECRET_PREVIOUS',
  'SIGNING_SECRET_ARN',
  'PUBLIC_BASE_URL',
  'MAX_FILE_BYTES',
  'MAX_API_UPLOAD_BYTES',
  'MULTIPART_THRESHOLD_BYTES',
  'MULTIPART_TTL_SECONDS',
  'VERIFY_INLINE_BYTES',
  'VERIFY_READ_MAX_BYTES',
  'DEFAULT_QUOTA_BYTES',
  'ALLOWED_CONTENT_TYPES',
  'PRESIGN_TTL_SECONDS',
  'PENDING_GRACE_SECONDS',
  'FINALIZE_LEASE_SECONDS',
  'TTL_GRACE_SECONDS',
  'CLEANUP_ON_READ',
  'TENANT_CLAIM',
  'OPERATOR_CLAIM',
  'EVENT_BUS_NAME',
  'BACKGROUND_FINALIZE',
  'BACKGROUND_THUMBNAILS',
  'THUMBNAIL_MAX_SOURCE_BYTES',
  'THUMBNAIL_MAX_PIXELS',
  'THUMBNAIL_TIMEOUT_SECONDS',
  'THUMBNAIL_MAX_VARIANTS',
  'THUMBNAIL_EAGER_SIZES',
  'PORT',
  'HOST',
  'DATA_DIR',
  'SWEEP_INTERVAL',
  'STORAGE_EMULATOR',
  'STORAGE_EMULATOR_PORT',
];

export interface ProcMemory {
  /** Resident set size now, bytes. */
  rss: number;
  /** Peak resident set size since the process started (VmHWM), bytes. */
  hwm: number;
}

/** VmRSS and VmHWM of a process from /proc (Linux). */
export function procMemory(pid: number): ProcMemory | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) =>
      Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number),
    );
  } catch {
    return [];
  }
}

/** Polls a process's VmRSS and keeps the highest value seen (a cross-check of the kernel's VmHWM). */
export class RssSampler {
  peak = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pid: number,
    private readonly intervalMs = 25,
  ) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    return this;
  }

  sample(): void {
    const m = procMemory(this.pid);
    if (m && m.rss > this.peak) this.peak = m.rss;
  }

  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
}

export interface ChildEmulator {
  kind: 's3' | 'azure';
  endpoint: string;
  /** The storage instance's name, e.g. storages.S3Emulator. */
  storage: string;
  bucket: string;
}

export interface ChildServer {
  pid: number;
  url: string;
  dataDir: string;
  /** The storage emulator the server started and uses as its default storage (STORAGE_EMULATOR). */
  emulator?: ChildEmulator;
  /** The endpoint of the server's DynamoDB Local (from its command line), to time raw calls beside the server's. */
  dynamoEndpoint?: string;
  /** A tenant member's dev token signed with the server's secret (upload, download, delete unless given). */
  token(tenant: string, user: string, scope?: string): Promise<string>;
  /** An operator's dev token (quotas, recalculation, audit). */
  operatorToken(): Promise<string>;
  /** The Node server process's memory. */
  memory(): ProcMemory | undefined;
  /** The memory of DynamoDB Local (the server's Java child), for information. */
  dynamoMemory(): ProcMemory | undefined;
  /** The last lines the server wrote to stderr. */
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * Starts the local runtime (DynamoDB Local + HTTP server) as a separate Node process with its own
 * DATA_DIR, so that its memory can be measured apart from the benchmark client's. Resolves when
 * the server answers. The sweeper is off unless `sweepIntervalSeconds` is given. `storageEmulator`
 * starts s3rver (inside the server's process) or Azurite in its DATA_DIR as the default storage, as
 * `STORAGE_EMULATOR=s3|azure npm start` does. `env` sets more variables in the child (e.g.
 * `THUMBNAIL_EAGER_SIZES: ''`), after the service's variables of the shell are removed and after
 * the ones above, so it may also override those.
 */
export async function startChildServer(
  dataDir: string,
  options: {
    sweepIntervalSeconds?: number;
    storageEmulator?: 's3' | 'azure';
    env?: Record<string, string>;
  } = {},
): Promise<ChildServer> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of SERVICE_VARS) delete env[name];
  Object.assign(env, {
    ...LOCAL_SERVER_ENV,
    DATA_DIR: dataDir,
    PORT: '0',
    SWEEP_INTERVAL: String(options.sweepIntervalSeconds ?? 0),
    POWERTOOLS_LOG_LEVEL: 'WARN',
  });
  if (options.storageEmulator) env.STORAGE_EMULATOR = options.storageEmulator;
  Object.assign(env, options.env);
  // `node --import tsx` (not the tsx CLI, which forks): the spawned pid is the server itself. The
  // node flags are those of `npm start`.
  // To look inside the server during a run: BENCH_SERVER_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/p'
  // (or '--trace-gc' with BENCH_SERVER_STDOUT=/tmp/gc.log to keep what it prints).
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...LOCAL_SERVER_NODE_FLAGS,
      ...(process.env.BENCH_SERVER_FLAGS?.split(' ').filter(Boolean) ?? []),
      '--import',
      'tsx',
      join(repoRoot, 'bench', 'local-server-child.ts'),
    ],
    { cwd: repoRoot, env, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8000);
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });

  const { port, emulator } = await new Promise<{ port: number; emulator?: ChildEmulator }>((res, rej) => {
    let out = '';
    const timer = setTimeout(() => rej(new Error(`local server did not start in 90 s:\n${stderr}`)), 90_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      for (const line of out.split('\n')) {
        try {
          const msg = JSON.parse(line) as { ready?: boolean; port?: number; emulator?: ChildEmulator };
          if (msg.ready && msg.port) {
            clearTimeout(timer);
            child.stdout?.off('data', onData);
            if (process.env.BENCH_SERVER_STDOUT)
              child.stdout?.pipe(createWriteStream(process.env.BENCH_SERVER_STDOUT));
            else child.stdout?.resume();
            res({ port: msg.port, emulator: msg.emulator });
            return;
          }
        } catch {
          // not our line
        }
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      rej(new Error(`local server exited (${code ?? signal}) before it was ready:\n${stderr}`));
    });
  });
  const pid = child.pid as number;
  const jwtSecret = loadDevSecrets(dataDir).jwtSecret;
  const dynamoPid = () => childPids(pid).find((p) => /java/.test(safeRead(`/proc/${p}/cmdline`)));
  const javaPid = dynamoPid();
  const javaArgs = javaPid ? safeRead(`/proc/${javaPid}/cmdline`).split('\0') : [];
  const dynamoPort = javaArgs[javaArgs.indexOf('-port') + 1];

  return {
    pid,
    url: `http://127.0.0.1:${port}`,
    dataDir,
    emulator,
    dynamoEndpoint: javaArgs.includes('-port') && dynamoPort ? `http://127.0.0.1:${dynamoPort}` : undefined,
    token: (tenant, user, scope) => signDevToken(jwtSecret, { tenant, user, scope }),
    operatorToken: () => signDevToken(jwtSecret, { user: 'bench-operator', operator: true }),
    memory: () => procMemory(pid),
    dynamoMemory: () => (javaPid ? procMemory(javaPid) : undefined),
    stderr: () => stderr,
    async stop() {
      if (!exited) {
        const done = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 20_000).unref());
        if ((await Promise.race([done, timeout])) === 'timeout') child.kill('SIGKILL');
      }
      // If the server could not stop its DynamoDB Local, do it here: never leave a JVM behind.
      if (javaPid && procMemory(javaPid)) {
        try {
          process.kill(javaPid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    },
  };
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP request with a buffered answer (the small API calls). */
export function request(
  url: string,
  options: {
    method: string;
    headers?: Record<string, string | number>;
    body?: Buffer | string | Readable;
    agent?: http.Agent;
    /** Fails the request when the socket is idle this long (a hung server must not hang the bench). */
    timeoutMs?: number;
  },
): Promise<HttpResponse> {
  return new Promise((res, rej) => {
    const req = http.request(url, { method: options.method, headers: options.headers, agent: options.agent });
    req.on('error', rej);
    if (options.timeoutMs)
      req.setTimeout(options.timeoutMs, () => req.destroy(new Error(`no answer in ${options.timeoutMs} ms`)));
    req.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (c: Buffer) => chunks.push(c));
      response.on('error', rej);
      response.on('end', () =>
        res({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }),
      );
    });
    const body = options.body;
    if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}

export function json<T = Record<string, unknown>>(response: HttpResponse): T {
  try {
    return JSON.parse(response.body.toString('utf8')) as T;
  } catch {
    return {} as T;
  }
}
