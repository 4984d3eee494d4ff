import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export interface DynamoDbLocal {
  endpoint: string;
  port: number;
  stop(): Promise<void>;
}

/** The DynamoDB Local jar shipped inside the amplify-dynamodb-simulator npm package. */
function emulatorDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('amplify-dynamodb-simulator/package.json')), 'emulator');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function assertJava(): void {
  try {
    execFileSync('java', ['-version'], { stdio: 'ignore' });
  } catch {
    throw new Error(
      'Java was not found. DynamoDB Local runs on Java 17 or later: install it (e.g. `apt-get install openjdk-17-jre-headless`) and make sure `java` is on PATH.',
    );
  }
}

/**
 * Starts DynamoDB Local bound to 127.0.0.1, in memory or persisted under `dbPath`, and resolves
 * when it accepts requests (about 4 s).
 */
export async function startDynamoDbLocal(
  options: { port?: number; dbPath?: string } = {},
): Promise<DynamoDbLocal> {
  assertJava();
  const port = options.port ?? (await freePort());
  const dir = emulatorDir();
  const args = [
    `-Djava.library.path=${join(dir, 'DynamoDBLocal_lib')}`,
    '-cp',
    `${join(dir, 'DynamoDBLocal.jar')}:${join(dir, 'DynamoDBLocal_lib', '*')}`,
    join(here, 'DynamoDbLocalLauncher.java'),
    '-port',
    String(port),
    '-disableTelemetry',
    ...(options.dbPath ? ['-dbPath', options.dbPath, '-sharedDb'] : ['-inMemory', '-sharedDb']),
  ];
  // stdin stays an open pipe: the launcher exits when it closes, so even a killed parent leaves no orphan.
  const child: ChildProcess = spawn('java', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`DynamoDB Local did not start in 60 s:\n${output}`)),
      60_000,
    );
    const onData = () => {
      if (output.includes('DynamoDB Local ready')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`DynamoDB Local exited with code ${code}:\n${output}`));
    });
  });
  child.removeAllListeners('exit');

  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
