import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildFunctionAsset, functionEntry, HOST_PLATFORM, LAZY_FILE } from '../../infra/bundling';

/**
 * Builds function bundles with the very settings CDK deploys them with (infra/bundling.ts), each
 * into its own folder `{outdir}/{fn}/`: index.mjs with the lazy-*.mjs files its dynamic imports
 * point at beside it, as in the Lambda's asset; the map holds index.mjs. Put outdir outside the project (a temp folder) so a bundle that
 * still needs something from node_modules cannot find it there.
 */
export async function buildBundles(outdir: string, fns: readonly string[]): Promise<Map<string, string>> {
  const bundles = new Map<string, string>();
  await Promise.all(
    fns.map(async (fn) => {
      const dir = join(outdir, fn);
      // Native packages for this machine: the smoke test runs the bundles here, not in Lambda.
      await buildFunctionAsset(functionEntry(fn), dir, HOST_PLATFORM);
      const files = readdirSync(dir);
      // A bundle is an entry file and its lazy files: the smoke test runs it only from this whole folder.
      if (!files.includes('index.mjs') || !files.some((f) => LAZY_FILE.test(f))) {
        throw new Error(`${fn}: expected index.mjs and its lazy files in ${dir}, found ${files.join(', ')}`);
      }
      bundles.set(fn, join(dir, 'index.mjs'));
    }),
  );
  return bundles;
}

/**
 * The child side: a fresh Node process that imports one bundle the way Lambda does (a plain ESM
 * import of index.mjs), invokes its `handler` with each event in turn, and prints the results.
 */
const RUNNER = `
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
const [bundle, eventsFile, fn] = process.argv.slice(2);
const started = performance.now();
const mod = await import(pathToFileURL(bundle).href);
const importMs = performance.now() - started;
const results = [];
for (const event of JSON.parse(readFileSync(eventsFile, 'utf8'))) {
  const deadline = Date.now() + 60_000;
  const context = {
    functionName: fn, functionVersion: '$LATEST', memoryLimitInMB: '512', awsRequestId: randomUUID(),
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:' + fn,
    logGroupName: '/aws/lambda/' + fn, logStreamName: 'smoke', callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  results.push(await mod.handler(event, context));
}
// The SDK keeps sockets alive, as it should in Lambda; this process is done.
process.stdout.write(JSON.stringify({ importMs, results }), () => process.exit(0));
`;

export interface BundleRun {
  importMs: number;
  // biome-ignore lint/suspicious/noExplicitAny: handler results are checked field by field
  results: any[];
  stderr: string;
}

export function writeRunner(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'run-bundle.mjs');
  writeFileSync(file, RUNNER);
  return file;
}

/** Runs `events` through the bundle's handler in a new Node process with exactly `env`. */
export function runBundle(
  runner: string,
  bundle: string,
  fn: string,
  events: unknown[],
  env: Record<string, string>,
): Promise<BundleRun> {
  const eventsFile = `${bundle}.events-${Date.now()}-${Math.random().toString(36).slice(2)}.json`;
  writeFileSync(eventsFile, JSON.stringify(events));
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [runner, bundle, eventsFile, fn],
      { env: { PATH: process.env.PATH ?? '', ...env }, cwd: join(bundle, '..'), maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          // Node prints the failing line of a minified bundle in full: keep the messages readable.
          const readable = stderr
            .split('\n')
            .map((line) => (line.length > 300 ? `${line.slice(0, 300)}...` : line))
            .join('\n')
            .slice(-4000);
          reject(new Error(`${fn}: the bundle failed in a fresh process\n${readable}`));
          return;
        }
        resolve({ ...(JSON.parse(stdout) as Omit<BundleRun, 'stderr'>), stderr });
      },
    );
  });
}
